"""Gradient-boosted trees as ONNX, built with the ``onnx`` package alone.

No converter library (skl2onnx, onnxmltools) is needed: the fitted trees are
read from the producer's own arrays (XGBoost's JSON model, scikit-learn's
HistGradientBoosting predictor nodes) and written as one ``ai.onnx.ml``
TreeEnsembleRegressor that sums the leaf values onto the base margin. A
classifier adds a Sigmoid, so the graph's only output is the probability of
class 1 ("up"), shape [N, 1]; a regressor outputs the value, shape [N, 1].

Exactness: the producers compare float32 inputs with their thresholds
(XGBoost: ``x < t`` with float32 ``t``, so BRANCH_LT with ``t`` as is;
scikit-learn: ``x <= t`` with float64 ``t``, so BRANCH_LEQ with the largest
float32 not above ``t``, which decides every float32 ``x`` the same way).
Only the leaf sum is float32 in ONNX Runtime, some 1e-7 of the margin.

The model's metadata records the input columns in order under
``quantflow_columns`` (a JSON list), which QuantFlow checks against the
feature schema when it loads the model.
"""

import json
import math

import numpy as np
import onnx
from onnx import TensorProto, helper

__all__ = ["TreeTable", "ensemble_onnx", "sklearn_hgb_trees", "xgboost_trees"]

COLUMNS_KEY = "quantflow_columns"


class TreeTable:
    """Nodes of every tree in the flat layout of ONNX's TreeEnsemble operators."""

    def __init__(self):
        self.nodes = {
            "nodes_treeids": [],
            "nodes_nodeids": [],
            "nodes_featureids": [],
            "nodes_values": [],
            "nodes_modes": [],
            "nodes_truenodeids": [],
            "nodes_falsenodeids": [],
            "nodes_missing_value_tracks_true": [],
        }
        self.targets = {"target_treeids": [], "target_nodeids": [], "target_ids": [], "target_weights": []}
        self.trees = 0

    def add_tree(self, left, right, feature, threshold, value, is_leaf, missing_left, mode):
        """One tree from per-node arrays; node i's children are left[i] (condition true) and right[i]."""
        tree = self.trees
        self.trees += 1
        n = self.nodes
        for i in range(len(left)):
            n["nodes_treeids"].append(tree)
            n["nodes_nodeids"].append(i)
            if is_leaf[i]:
                n["nodes_featureids"].append(0)
                n["nodes_values"].append(0.0)
                n["nodes_modes"].append("LEAF")
                n["nodes_truenodeids"].append(0)
                n["nodes_falsenodeids"].append(0)
                n["nodes_missing_value_tracks_true"].append(0)
                self.targets["target_treeids"].append(tree)
                self.targets["target_nodeids"].append(i)
                self.targets["target_ids"].append(0)
                self.targets["target_weights"].append(float(value[i]))
            else:
                n["nodes_featureids"].append(int(feature[i]))
                n["nodes_values"].append(float(threshold[i]))
                n["nodes_modes"].append(mode)
                n["nodes_truenodeids"].append(int(left[i]))
                n["nodes_falsenodeids"].append(int(right[i]))
                n["nodes_missing_value_tracks_true"].append(1 if missing_left[i] else 0)


def _float32_at_most(values):
    """The largest float32 <= each float64 value: ``x <= t`` and ``x <= f(t)`` agree for every float32 x."""
    t = np.asarray(values, dtype=np.float64)
    f = t.astype(np.float32)
    above = f.astype(np.float64) > t
    f[above] = np.nextafter(f[above], np.float32(-np.inf))
    return f


def xgboost_trees(booster):
    """(TreeTable, base margin, objective name) of an XGBoost booster (gbtree, one output)."""
    model = json.loads(bytes(booster.save_raw(raw_format="json")))
    learner = model["learner"]
    objective = learner["objective"]["name"]
    gb = learner["gradient_booster"]
    if gb.get("name") != "gbtree":
        raise ValueError("only the gbtree booster can be exported (got %r)" % gb.get("name"))
    params = learner["learner_model_param"]
    if int(params.get("num_class", "0")) > 1 or int(params.get("num_target", "1")) != 1:
        raise ValueError("only single-output boosters can be exported")
    base_score = float(params["base_score"])
    if objective == "binary:logistic":
        base = math.log(base_score / (1.0 - base_score))
    elif objective == "reg:squarederror":
        base = base_score
    else:
        raise ValueError("objective %r cannot be exported (binary:logistic, reg:squarederror)" % objective)
    table = TreeTable()
    for tree in gb["model"]["trees"]:
        if any(tree["split_type"]) or tree["categories"]:
            raise ValueError("categorical splits cannot be exported")
        left = tree["left_children"]
        # Leaves hold their (learning-rate scaled) value in split_conditions.
        values = np.asarray(tree["split_conditions"], dtype=np.float32)
        table.add_tree(
            left,
            tree["right_children"],
            tree["split_indices"],
            values,
            values,
            [c == -1 for c in left],
            tree["default_left"],
            "BRANCH_LT",
        )
    return table, base, objective


def sklearn_hgb_trees(model):
    """(TreeTable, base margin) of a fitted HistGradientBoostingClassifier (binary) or Regressor."""
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).ravel()
    if baseline.size != 1:
        raise ValueError("only binary classifiers and single-output regressors can be exported")
    table = TreeTable()
    for per_iteration in model._predictors:
        for predictor in per_iteration:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits cannot be exported")
            table.add_tree(
                nodes["left"],
                nodes["right"],
                nodes["feature_idx"],
                _float32_at_most(nodes["num_threshold"]),
                nodes["value"],
                nodes["is_leaf"],
                nodes["missing_go_to_left"],
                "BRANCH_LEQ",
            )
    return table, float(baseline[0])


def ensemble_onnx(table, n_features, base, probability, columns, producer, producer_version):
    """ONNX bytes: input 'input' float [N, n_features] -> 'probability' (sigmoid of the margin) or 'value', [N, 1]."""
    if len(columns) != n_features:
        raise ValueError("%d column names for %d features" % (len(columns), n_features))
    margin = "margin" if probability else "value"
    nodes = [
        helper.make_node(
            "TreeEnsembleRegressor",
            ["input"],
            [margin],
            domain="ai.onnx.ml",
            n_targets=1,
            aggregate_function="SUM",
            post_transform="NONE",
            base_values=[float(base)],
            **table.nodes,
            **table.targets,
        )
    ]
    if probability:
        nodes.append(helper.make_node("Sigmoid", [margin], ["probability"]))
    output = "probability" if probability else "value"
    graph = helper.make_graph(
        nodes,
        "quantflow_gbdt",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_features])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", 1])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name=producer,
        producer_version=producer_version,
    )
    helper.set_model_props(model, {COLUMNS_KEY: json.dumps(list(columns))})
    onnx.checker.check_model(model)
    return model.SerializeToString()
