"""Gradient-boosted trees for QuantFlow ML: fitted here, served from ONNX in Node.

Spoken to through ``quantflow_worker.serve`` like every model script, but
only ``fit`` (and ``predict``, the fitted model's own answers, for parity
checks) run here: ``fit`` returns the model as ONNX bytes (``onnx_trees.py``)
and Node serves them with ONNX Runtime, so no Python process is on the hot
path and nothing is ever pickled.

Libraries: ``xgboost`` (default; ``xgboost.train`` with the hist method) or
``sklearn`` (``HistGradientBoostingClassifier`` / ``Regressor``), plus
``numpy`` and ``onnx``.

fit params:
    target            "direction" (binary logistic) or "return" / "volatility" (squared error, model space)
    library           "xgboost" (default) or "sklearn"
    columns           input column names, recorded in the ONNX metadata
    seed              random seed
    trees             boosting rounds at most (default 300)
    depth             tree depth at most (default 3)
    learningRate      shrinkage (default 0.05)
    minChildWeight    xgboost min_child_weight / sklearn min_samples_leaf (default 20)
    subsample         xgboost row subsample per tree (default 0.8; sklearn: not used)
    colsample         xgboost column subsample per tree (default 0.8; sklearn: not used)
    l2                L2 regularisation of leaf values (default 1.0)
    earlyStopping     rounds without improvement on the validation rows before stopping (default 30)
    threads           xgboost threads (default 2)
    validation        optional {"X": {"f32", "cols"}, "y": {"f32"}}: early-stopping rows
    checkRows         how many training rows to return the fitted model's predictions for (default 256)

Weights returned: {"format": "quantflow-gbdt-onnx-v1", "onnx": base64 of model.onnx}.
"""

import base64
import time

import numpy as np
import onnx

from onnx_trees import ensemble_onnx, sklearn_hgb_trees, xgboost_trees
from quantflow_worker import decode_f32, encode_f32, serve

FORMAT = "quantflow-gbdt-onnx-v1"
TARGETS = ("direction", "return", "volatility")


def _matrix(spec, name):
    cols = spec.get("cols") if isinstance(spec, dict) else None
    if not isinstance(cols, int) or cols <= 0:
        raise ValueError("'%s.cols' must be a positive integer" % name)
    flat = np.frombuffer(decode_f32(spec["f32"]).tobytes(), dtype=np.float32)
    return flat.reshape(len(flat) // cols, cols)


def _labels(spec, rows, name):
    y = np.frombuffer(decode_f32(spec["f32"]).tobytes(), dtype=np.float32)
    if len(y) != rows:
        raise ValueError("%s has %d labels for %d rows" % (name, len(y), rows))
    return y


class GbdtModel:
    input_format = "numpy"

    def __init__(self):
        self.predict_rows = None

    def fit(self, X, y, params):
        target = params.get("target", "direction")
        if target not in TARGETS:
            raise ValueError("unknown target %r (expected one of %s)" % (target, ", ".join(TARGETS)))
        library = params.get("library", "xgboost")
        classify = target == "direction"
        y = np.asarray(y, dtype=np.float32)
        if classify and not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("direction labels must be 0 or 1")
        if classify and len(np.unique(y)) < 2:
            raise ValueError("the training labels hold a single class")
        val = params.get("validation")
        Xv = yv = None
        if val is not None:
            Xv = _matrix(val["X"], "validation.X")
            yv = _labels(val["y"], Xv.shape[0], "validation.y")
        columns = params.get("columns") or ["f%d" % j for j in range(X.shape[1])]
        settings = {
            "trees": int(params.get("trees", 300)),
            "depth": int(params.get("depth", 3)),
            "learningRate": float(params.get("learningRate", 0.05)),
            "minChildWeight": float(params.get("minChildWeight", 20)),
            "l2": float(params.get("l2", 1.0)),
            "earlyStopping": int(params.get("earlyStopping", 30)),
        }
        started = time.perf_counter()
        if library == "xgboost":
            settings.update(
                subsample=float(params.get("subsample", 0.8)),
                colsample=float(params.get("colsample", 0.8)),
                threads=int(params.get("threads", 2)),
            )
            table, base, info = self._fit_xgboost(X, y, Xv, yv, classify, int(params.get("seed", 0)), settings)
        elif library == "sklearn":
            table, base, info = self._fit_sklearn(X, y, Xv, yv, classify, int(params.get("seed", 0)), settings)
        else:
            raise ValueError("unknown library %r (expected 'xgboost' or 'sklearn')" % (library,))
        seconds = time.perf_counter() - started
        model_bytes = ensemble_onnx(
            table, X.shape[1], base, classify, columns, "quantflow-gbdt", "%s %s" % (library, info["version"])
        )
        check = X[: int(params.get("checkRows", 256))]
        info.update(
            library=library,
            settings=settings,
            trees=table.trees,
            seconds=seconds,
            onnx=onnx.__version__,
            numpy=np.__version__,
            onnxBytes=len(model_bytes),
            check={"rows": int(check.shape[0]), "f32": encode_f32(self.predict(check))},
        )
        return {"format": FORMAT, "onnx": base64.b64encode(model_bytes).decode("ascii")}, info

    def _fit_xgboost(self, X, y, Xv, yv, classify, seed, s):
        import xgboost as xgb

        params = {
            "objective": "binary:logistic" if classify else "reg:squarederror",
            "eval_metric": "logloss" if classify else "rmse",
            "tree_method": "hist",
            "max_depth": s["depth"],
            "eta": s["learningRate"],
            "min_child_weight": s["minChildWeight"],
            "subsample": s["subsample"],
            "colsample_bytree": s["colsample"],
            "lambda": s["l2"],
            "seed": seed,
            "nthread": s["threads"],
            # Base margin from the training rows, so few trees are spent learning the mean.
            "base_score": float(np.clip(y.mean(), 1e-6, 1 - 1e-6)) if classify else float(y.mean()),
        }
        train = xgb.DMatrix(X, label=y)
        rounds = s["trees"]
        best = None
        if Xv is not None and len(Xv) > 0 and s["earlyStopping"] > 0:
            booster = xgb.train(
                params,
                train,
                rounds,
                evals=[(xgb.DMatrix(Xv, label=yv), "validation")],
                early_stopping_rounds=s["earlyStopping"],
                verbose_eval=False,
            )
            best = int(booster.best_iteration)
            booster = booster[: best + 1]
        else:
            booster = xgb.train(params, train, rounds, verbose_eval=False)
        self.predict_rows = lambda rows: booster.predict(xgb.DMatrix(np.asarray(rows, dtype=np.float32)))
        table, base, _objective = xgboost_trees(booster)
        return table, base, {"version": xgb.__version__, "bestIteration": best}

    def _fit_sklearn(self, X, y, Xv, yv, classify, seed, s):
        import sklearn
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        model = cls(
            max_iter=s["trees"],
            max_depth=s["depth"],
            max_leaf_nodes=2 ** s["depth"],
            learning_rate=s["learningRate"],
            min_samples_leaf=max(1, int(s["minChildWeight"])),
            l2_regularization=s["l2"],
            early_stopping=False,
            random_state=seed,
        )
        model.fit(X, y)
        best = None
        if Xv is not None and len(Xv) > 0 and s["earlyStopping"] > 0:
            best = self._best_iteration(model, Xv, yv, classify, s["earlyStopping"])
            # Keeping the first trees is exactly the model after that many iterations.
            model._predictors = model._predictors[: best + 1]
        if classify:
            up = int(np.flatnonzero(model.classes_ == 1.0)[0])
            self.predict_rows = lambda rows: model.predict_proba(np.asarray(rows, dtype=np.float32))[:, up]
        else:
            self.predict_rows = lambda rows: model.predict(np.asarray(rows, dtype=np.float32))
        table, base = sklearn_hgb_trees(model)
        return table, base, {"version": sklearn.__version__, "bestIteration": best}

    @staticmethod
    def _best_iteration(model, Xv, yv, classify, patience):
        """The iteration with the lowest validation loss, scanning until `patience` iterations bring no gain."""
        best, best_loss = 0, np.inf
        stages = model.staged_predict_proba(Xv) if classify else model.staged_predict(Xv)
        for i, p in enumerate(stages):
            if classify:
                q = np.clip(p[:, 1], 1e-12, 1 - 1e-12)
                loss = -np.mean(yv * np.log(q) + (1 - yv) * np.log(1 - q))
            else:
                loss = np.mean((p - yv) ** 2)
            if loss < best_loss:
                best, best_loss = i, loss
            elif i - best >= patience:
                break
        return best

    def predict(self, rows):
        """The fitted model's own answers (probability of up, or the value): the reference for parity."""
        if self.predict_rows is None:
            raise RuntimeError("nothing fitted: gbdt models are served from model.onnx in Node; this worker only fits")
        return np.asarray(self.predict_rows(rows), dtype=np.float32)


if __name__ == "__main__":
    serve(GbdtModel)
