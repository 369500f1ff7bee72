"""L2-regularised logistic regression in pure Python (standard library only).

The bundled example of a QuantFlow ML Python model: run by the worker
(``quantflow_worker.serve``), fitted with Newton's method with a backtracking
line search, which is deterministic (same data and params -> the same weights,
bit for bit) and converges in a handful of iterations. Rows arrive already
scaled by the model's scaler.

fit params (all optional):
    l2       penalty on the weights, not the intercept (default 1e-3)
    maxIter  Newton iterations at most (default 50)
    tol      stop when the largest weight change is below this (default 1e-9)

Weights (stored as weights.json):
    {"format": "quantflow-logistic-v1", "inputWidth": d, "coef": [d floats], "intercept": b, "l2": l2}

Cost: about d*d/2 multiply-adds per row per iteration in C-level loops
(``sum(map(mul, ...))`` over columns); fine for tens of features and tens of
thousands of rows. Prediction is one dot product per row.
"""

import math
from operator import mul

from quantflow_worker import serve

FORMAT = "quantflow-logistic-v1"


def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _softplus(z):
    # log(1 + e^z) without overflow
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _solve(matrix, vector):
    """Solves matrix @ x = vector by Gaussian elimination with partial pivoting."""
    size = len(vector)
    a = [row[:] + [vector[i]] for i, row in enumerate(matrix)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-300:
            raise ArithmeticError("the Hessian is singular; increase l2")
        a[col], a[pivot] = a[pivot], a[col]
        head = a[col]
        for r in range(col + 1, size):
            factor = a[r][col] / head[col]
            if factor != 0.0:
                row = a[r]
                for c in range(col, size + 1):
                    row[c] -= factor * head[c]
    x = [0.0] * size
    for r in range(size - 1, -1, -1):
        acc = a[r][size] - sum(a[r][c] * x[c] for c in range(r + 1, size))
        x[r] = acc / a[r][r]
    return x


def _linear(columns, coef, intercept, n):
    z = [intercept] * n
    for column, w in zip(columns, coef):
        if w != 0.0:
            z = [zi + w * xi for zi, xi in zip(z, column)]
    return z


class LogisticModel:
    # Rows arrive as array('f') slices: cheaper to build than lists, and read the same way here.
    input_format = "arrays"

    def __init__(self):
        self.coef = None
        self.intercept = 0.0
        self.input_width = None

    def fit(self, X, y, params):
        l2 = float(params.get("l2", 1e-3))
        max_iter = int(params.get("maxIter", 50))
        tol = float(params.get("tol", 1e-9))
        if not (l2 >= 0.0 and math.isfinite(l2)):
            raise ValueError("l2 must be a finite number >= 0, got %r" % (l2,))
        n = len(X)
        if n == 0:
            raise ValueError("no training rows")
        d = len(X[0])
        for i, label in enumerate(y):
            if label != 0.0 and label != 1.0:
                raise ValueError("label %d is %r; labels must be 0 or 1" % (i, label))
        columns = [list(c) for c in zip(*X)]
        for j, column in enumerate(columns):
            if not all(math.isfinite(v) for v in column):
                raise ValueError("feature column %d has a non-finite value" % j)

        def objective(coef, intercept):
            z = _linear(columns, coef, intercept, n)
            data = sum(_softplus(zi) - yi * zi for zi, yi in zip(z, y)) / n
            return data + 0.5 * l2 * sum(w * w for w in coef), z

        coef = [0.0] * d
        intercept = 0.0
        loss, z = objective(coef, intercept)
        iterations = 0
        converged = False
        for iterations in range(1, max_iter + 1):
            p = [_sigmoid(v) for v in z]
            residual = [pi - yi for pi, yi in zip(p, y)]
            weight = [pi * (1.0 - pi) for pi in p]
            grad = [sum(map(mul, column, residual)) / n + l2 * w for column, w in zip(columns, coef)]
            grad.append(sum(residual) / n)
            weighted = [list(map(mul, column, weight)) for column in columns]
            hessian = [[0.0] * (d + 1) for _ in range(d + 1)]
            for j in range(d):
                for k in range(j, d):
                    h = sum(map(mul, weighted[j], columns[k])) / n
                    hessian[j][k] = h
                    hessian[k][j] = h
                hessian[j][j] += l2
                hessian[j][d] = hessian[d][j] = sum(weighted[j]) / n
            hessian[d][d] = sum(weight) / n + 1e-12
            step = _solve(hessian, grad)
            slope = sum(g * s for g, s in zip(grad, step))
            t = 1.0
            while True:
                trial_coef = [w - t * s for w, s in zip(coef, step)]
                trial_intercept = intercept - t * step[d]
                trial_loss, trial_z = objective(trial_coef, trial_intercept)
                if trial_loss <= loss - 1e-4 * t * slope or t < 1e-10:
                    break
                t *= 0.5
            change = max(abs(t * s) for s in step)
            coef, intercept, loss, z = trial_coef, trial_intercept, trial_loss, trial_z
            if change < tol:
                converged = True
                break

        self.coef = coef
        self.intercept = intercept
        self.input_width = d
        correct = sum(1 for zi, yi in zip(z, y) if (zi > 0.0) == (yi == 1.0))
        weights = {"format": FORMAT, "inputWidth": d, "coef": coef, "intercept": intercept, "l2": l2}
        info = {
            "algorithm": "logistic-regression-newton",
            "iterations": iterations,
            "converged": converged,
            "trainLoss": loss,
            "trainAccuracy": correct / n,
        }
        return weights, info

    def load(self, weights):
        if not isinstance(weights, dict) or weights.get("format") != FORMAT:
            raise ValueError("weights are not in the %s format" % FORMAT)
        coef = weights.get("coef")
        intercept = weights.get("intercept")
        if not isinstance(coef, list) or not all(isinstance(w, (int, float)) and math.isfinite(w) for w in coef):
            raise ValueError("weights 'coef' must be a list of finite numbers")
        if not isinstance(intercept, (int, float)) or not math.isfinite(intercept):
            raise ValueError("weights 'intercept' must be a finite number")
        self.coef = [float(w) for w in coef]
        self.intercept = float(intercept)
        self.input_width = len(self.coef)

    def predict(self, rows):
        if self.coef is None:
            raise RuntimeError("no weights loaded: call load (or fit) first")
        coef = self.coef
        b = self.intercept
        if rows and len(rows[0]) != len(coef):
            raise ValueError("rows have %d values but the model expects %d" % (len(rows[0]), len(coef)))
        return [_sigmoid(sum(map(mul, row, coef)) + b) for row in rows]


if __name__ == "__main__":
    serve(LogisticModel)
