"""scikit-learn logistic regression behind the QuantFlow ML worker protocol.

The same protocol as ``logistic_model.py`` (fit / load / predict through
``quantflow_worker.serve``), but the fitting is done by
``sklearn.linear_model.LogisticRegression`` (lbfgs solver, L2 penalty).

Requirements: Python >= 3.9 with ``numpy`` and ``scikit-learn`` installed for
the interpreter QuantFlow starts (``python`` option, default ``python3``), e.g.
``python3 -m pip install numpy scikit-learn``. It is not exercised by the test
suite unless ``import sklearn`` works; without scikit-learn the worker exits at
start with a ModuleNotFoundError, which QuantFlow reports with the stderr tail.

Weights are stored as JSON (coefficients, intercept, classes), never as a
pickle: loading a model from disk therefore cannot run code. The only code
that runs is this script, which the loader finds in an allow-listed directory
and checks against the sha256 recorded in the model's meta.

fit params (all optional):
    C        inverse regularisation strength (default 1.0)
    maxIter  lbfgs iterations at most (default 1000)
    tol      stopping tolerance (default 1e-6)

Weights (stored as weights.json):
    {"format": "quantflow-sklearn-logistic-v1", "inputWidth": d, "coef": [d floats],
     "intercept": b, "classes": [0.0, 1.0], "sklearn": "<version>"}
"""

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression

from quantflow_worker import serve

FORMAT = "quantflow-sklearn-logistic-v1"


class SklearnLogisticModel:
    # fit and predict receive 2-D float32 numpy arrays instead of lists of rows.
    input_format = "numpy"

    def __init__(self):
        self.model = None
        self.input_width = None

    def fit(self, X, y, params):
        labels = np.asarray(y, dtype=np.float64)
        if not np.isin(labels, (0.0, 1.0)).all():
            raise ValueError("labels must be 0 or 1")
        if len(np.unique(labels)) < 2:
            raise ValueError("training labels contain a single class")
        model = LogisticRegression(
            C=float(params.get("C", 1.0)),
            max_iter=int(params.get("maxIter", 1000)),
            tol=float(params.get("tol", 1e-6)),
            solver="lbfgs",
        )
        model.fit(np.asarray(X, dtype=np.float64), labels)
        self.model = model
        self.input_width = int(X.shape[1])
        weights = {
            "format": FORMAT,
            "inputWidth": self.input_width,
            "coef": [float(v) for v in model.coef_.ravel()],
            "intercept": float(model.intercept_[0]),
            "classes": [float(c) for c in model.classes_],
            "sklearn": sklearn.__version__,
        }
        info = {
            "algorithm": "sklearn-logistic-regression-lbfgs",
            "iterations": int(np.max(model.n_iter_)),
            "trainAccuracy": float(model.score(np.asarray(X, dtype=np.float64), labels)),
        }
        return weights, info

    def load(self, weights):
        if not isinstance(weights, dict) or weights.get("format") != FORMAT:
            raise ValueError("weights are not in the %s format" % FORMAT)
        coef = np.asarray(weights["coef"], dtype=np.float64).reshape(1, -1)
        if not np.isfinite(coef).all():
            raise ValueError("weights 'coef' must be finite numbers")
        model = LogisticRegression()
        model.coef_ = coef
        model.intercept_ = np.asarray([float(weights["intercept"])], dtype=np.float64)
        model.classes_ = np.asarray(weights.get("classes", [0.0, 1.0]), dtype=np.float64)
        model.n_features_in_ = coef.shape[1]
        self.model = model
        self.input_width = coef.shape[1]

    def predict(self, rows):
        if self.model is None:
            raise RuntimeError("no weights loaded: call load (or fit) first")
        up = int(np.flatnonzero(self.model.classes_ == 1.0)[0])
        return self.model.predict_proba(np.asarray(rows, dtype=np.float64))[:, up]


if __name__ == "__main__":
    serve(SklearnLogisticModel)
