"""Pedestrian attribute recognition scores: accuracy, mA (balanced accuracy) and macro F1 per attribute."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MISSING = -1


def _as_label_matrix(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_samples, num_attributes), got shape {x.shape}")
    if x.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer class indices, got dtype {x.dtype}")
    return x.astype(np.int64)


def _nan_mean(values: np.ndarray) -> float:
    scored = values[~np.isnan(values)]
    return float(scored.mean()) if len(scored) else float("nan")


def attribute_metrics(pred: np.ndarray, target: np.ndarray, columns: Sequence[str]) -> dict:
    """Score predicted class indices against targets, one column per attribute.

    Per attribute, only rows whose target is labelled (not -1) count; predictions there must be >= 0.
    Classes are the values seen in that attribute's labelled targets and predictions. Scores are in 0..1:

    - ``accuracy``: fraction of labelled rows predicted exactly.
    - ``balanced_accuracy``: mean recall over the classes present in the targets. For a binary attribute with both
      classes present this is the pedestrian-attribute convention (TPR + TNR) / 2; it applies the same rule to
      multi-class attributes, so a rare class weighs as much as a common one.
    - ``f1``: macro F1 = mean over classes of 2TP / (2TP + FP + FN), over the classes present in the targets or
      predictions (binary attributes average both classes).

    ``mean_accuracy``, ``mA`` (mean of ``balanced_accuracy``) and ``mean_f1`` average over attributes that have at
    least one labelled row; an attribute without any has NaN scores and ``num_labelled`` 0. Per-attribute arrays
    follow ``columns``.
    """
    pred = _as_label_matrix(pred, "pred")
    target = _as_label_matrix(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {pred.shape} and {target.shape}")
    columns = tuple(columns)
    if len(columns) != target.shape[1]:
        raise ValueError(f"got {len(columns)} column names for {target.shape[1]} attribute columns")
    if (target < MISSING).any():
        raise ValueError(f"target values must be class indices >= 0 or {MISSING} (missing)")

    num_attr = len(columns)
    accuracy = np.full(num_attr, np.nan)
    balanced = np.full(num_attr, np.nan)
    f1 = np.full(num_attr, np.nan)
    num_labelled = np.zeros(num_attr, dtype=np.int64)
    for a, name in enumerate(columns):
        labelled = target[:, a] != MISSING
        t, p = target[labelled, a], pred[labelled, a]
        if (p < 0).any():
            raise ValueError(f"pred for attribute {name!r} has negative class indices on labelled rows")
        num_labelled[a] = len(t)
        if len(t) == 0:
            continue
        num_classes = int(max(t.max(), p.max())) + 1
        confusion = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
        confusion = confusion.reshape(num_classes, num_classes)  # rows: target, columns: prediction
        tp = np.diag(confusion)
        support = confusion.sum(axis=1)
        predicted = confusion.sum(axis=0)
        accuracy[a] = tp.sum() / len(t)
        present = support > 0
        balanced[a] = (tp[present] / support[present]).mean()
        seen = (support + predicted) > 0
        f1[a] = (2 * tp[seen] / (support[seen] + predicted[seen])).mean()
    return {
        "columns": columns,
        "accuracy": accuracy,
        "balanced_accuracy": balanced,
        "f1": f1,
        "num_labelled": num_labelled,
        "mean_accuracy": _nan_mean(accuracy),
        "mA": _nan_mean(balanced),
        "mean_f1": _nan_mean(f1),
    }
