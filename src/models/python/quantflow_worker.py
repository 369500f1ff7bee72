"""Python side of the QuantFlow ML worker protocol (standard library only).

A model script defines a class and hands it to ``serve``::

    from quantflow_worker import serve

    class MyModel:
        def fit(self, X, y, params):      # X: list of rows (lists of floats), y: list of 0.0/1.0
            ...                           # -> weights (any JSON value), or (weights, info_dict)
        def load(self, weights):          # the JSON value fit returned, read back from weights.json
            ...
        def predict(self, rows):          # -> one probability of "up" per row
            ...

    if __name__ == "__main__":
        serve(MyModel)

Optional class attributes and methods:

* ``input_format`` chooses how ``fit`` and ``predict`` receive rows:
  ``"rows"`` (default) a list of lists of floats; ``"arrays"`` a list of
  ``array('f')`` rows, about 8x cheaper to build for large batches (same
  indexing and iteration, but no list methods); ``"numpy"`` a 2-D float32
  numpy array (numpy must then be installed).
* ``input_width`` (set by ``load``): the number of values per row the weights
  expect; the worker refuses a ``load`` whose ``inputWidth`` differs.
* Any other public method ``name(self, **params)`` can be called as a request
  with that method name (handy for diagnostics and tests).

Protocol: one JSON object per line on stdin and stdout, UTF-8 (ASCII in
practice). On start the worker writes ``{"event":"ready","pid":..,"python":..,
"protocol":1}``. Each request ``{"id":N,"method":"...","params":{...}}`` gets
exactly one reply with the same id, in order: ``{"id":N,"result":...}`` or
``{"id":N,"error":{"type","message","traceback","where"}}``. Numeric matrices
travel as ``{"f32": base64 of little-endian float32, "cols": C}`` (or
``{"values": [flat list], "cols": C}``); ``predict`` answers
``{"n": N, "f32": base64}``. Anything the model prints goes to stderr, never
into the protocol stream. End of input or a ``shutdown`` request ends the loop.
"""

import base64
import json
import os
import platform
import sys
import traceback
from array import array

PROTOCOL_VERSION = 1

__all__ = ["PROTOCOL_VERSION", "decode_f32", "encode_f32", "serve"]

_SWAP = sys.byteorder == "big"  # the wire format is little-endian


def decode_f32(text):
    """base64 of little-endian float32 values -> array('f')."""
    values = array("f")
    values.frombytes(base64.b64decode(text, validate=True))
    if _SWAP:
        values.byteswap()
    return values


def encode_f32(values):
    """Iterable of numbers (or a numpy array) -> base64 of little-endian float32."""
    if hasattr(values, "astype") and hasattr(values, "tobytes"):  # numpy, without importing it
        raw = values.astype("<f4").tobytes()
    else:
        packed = array("f", values)
        if _SWAP:
            packed.byteswap()
        raw = packed.tobytes()
    return base64.b64encode(raw).decode("ascii")


def _flat_values(spec, name):
    if not isinstance(spec, dict):
        raise ValueError("'%s' must be an object with 'f32' (base64) or 'values'" % name)
    if "f32" in spec:
        return decode_f32(spec["f32"])
    if "values" in spec:
        return array("f", spec["values"])
    raise ValueError("'%s' has neither 'f32' nor 'values'" % name)


def _matrix(spec, name, input_format):
    cols = spec.get("cols") if isinstance(spec, dict) else None
    if not isinstance(cols, int) or cols <= 0:
        raise ValueError("'%s.cols' must be a positive integer" % name)
    flat = _flat_values(spec, name)
    if len(flat) % cols != 0:
        raise ValueError("'%s' has %d values, not a multiple of cols=%d" % (name, len(flat), cols))
    if input_format == "numpy":
        import numpy

        return numpy.frombuffer(flat.tobytes(), dtype=numpy.float32).reshape(len(flat) // cols, cols)
    if input_format == "arrays":
        return [flat[i : i + cols] for i in range(0, len(flat), cols)]
    if input_format != "rows":
        raise ValueError("unknown input_format %r (expected 'rows', 'arrays' or 'numpy')" % (input_format,))
    values = flat.tolist()
    return [values[i : i + cols] for i in range(0, len(values), cols)]


def _where(exc):
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    last = frames[-1]
    return {"file": last.filename, "line": last.lineno, "function": last.name}


class _Server:
    def __init__(self, model, out):
        self.model = model
        self.out = out
        self.input_format = getattr(model, "input_format", "rows")
        self.running = True

    def send(self, message):
        try:
            line = json.dumps(message, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            # A result that JSON cannot carry (NaN, numpy scalars, objects) becomes an error reply.
            line = json.dumps(
                {
                    "id": message.get("id"),
                    "error": {
                        "type": type(exc).__name__,
                        "message": "the result is not plain JSON: %s" % exc,
                        "traceback": "",
                        "where": None,
                    },
                },
                separators=(",", ":"),
            )
        self.out.write(line.encode("utf-8") + b"\n")
        self.out.flush()

    def handle(self, raw):
        request_id = None
        try:
            request = json.loads(raw)
            if not isinstance(request, dict):
                raise ValueError("a request must be a JSON object")
            request_id = request.get("id")
            method = request.get("method")
            params = request.get("params")
            if not isinstance(method, str):
                raise ValueError("request has no 'method'")
            result = self.dispatch(method, {} if params is None else params)
            self.send({"id": request_id, "result": result})
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error reply
            self.send(
                {
                    "id": request_id,
                    "error": {
                        "type": type(exc).__name__,
                        "message": str(exc),
                        "traceback": traceback.format_exc(),
                        "where": _where(exc),
                    },
                }
            )

    def dispatch(self, method, params):
        model = self.model
        if method == "predict":
            rows = _matrix(params.get("rows"), "rows", self.input_format)
            probabilities = model.predict(rows)
            if len(probabilities) != len(rows):
                raise ValueError("predict returned %d values for %d rows" % (len(probabilities), len(rows)))
            if params.get("output") == "values":
                return {"n": len(rows), "values": [float(p) for p in probabilities]}
            return {"n": len(rows), "f32": encode_f32(probabilities)}
        if method == "load":
            model.load(params.get("weights"))
            expected = params.get("inputWidth")
            width = getattr(model, "input_width", None)
            if expected is not None and width is not None and int(width) != int(expected):
                raise ValueError("the weights expect %d values per row but the model meta says %d" % (width, expected))
            return {"loaded": True, "inputWidth": width}
        if method == "fit":
            X = _matrix(params.get("X"), "X", self.input_format)
            y = _flat_values(params.get("y"), "y").tolist()
            if len(y) != len(X):
                raise ValueError("X has %d rows but y has %d labels" % (len(X), len(y)))
            out = model.fit(X, y, params.get("params") or {})
            weights, info = out if isinstance(out, tuple) and len(out) == 2 else (out, {})
            return {"weights": weights, "info": info or {}}
        if method == "ping":
            return {
                "pid": os.getpid(),
                "python": platform.python_version(),
                "protocol": PROTOCOL_VERSION,
                "model": type(model).__name__,
            }
        if method == "shutdown":
            self.running = False
            return {"ok": True}
        handler = getattr(model, method, None) if method.isidentifier() and not method.startswith("_") else None
        if not callable(handler):
            raise AttributeError("model %s has no method '%s'" % (type(model).__name__, method))
        if isinstance(params, dict):
            return handler(**params)
        if isinstance(params, list):
            return handler(*params)
        return handler(params)


def serve(model_class):
    """Runs the request loop for ``model_class`` (a class or an instance) until
    end of input or a ``shutdown`` request."""
    model = model_class() if isinstance(model_class, type) else model_class
    # The protocol keeps its own handle on stdout; fd 1 then points at stderr,
    # so print() in a model (or a C library writing to stdout) cannot corrupt it.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    server = _Server(model, out)
    server.send(
        {"event": "ready", "pid": os.getpid(), "python": platform.python_version(), "protocol": PROTOCOL_VERSION}
    )
    stdin = sys.stdin.buffer
    while server.running:
        line = stdin.readline()
        if not line:
            break
        if line.strip():
            server.handle(line)
    out.close()
