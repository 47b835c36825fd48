from __future__ import annotations

import numpy as np
import pytest

from reid_runtime.data.attribute_schema import MARS_ATTRIBUTES
from reid_runtime.metrics import attribute_metrics


def test_binary_attribute_with_a_missing_label():
    target = np.array([[1], [1], [0], [0], [0], [-1]])
    pred = np.array([[1], [0], [0], [0], [1], [1]])  # the last row is unlabelled and ignored
    result = attribute_metrics(pred, target, ["bag"])
    assert result["num_labelled"].tolist() == [5]
    assert result["accuracy"][0] == pytest.approx(3 / 5)
    assert result["balanced_accuracy"][0] == pytest.approx((1 / 2 + 2 / 3) / 2)  # (TPR + TNR) / 2
    assert result["f1"][0] == pytest.approx((2 / 4 + 4 / 6) / 2)  # class 1: 2TP/(2TP+FP+FN) = 2/4, class 0: 4/6
    assert result["mA"] == pytest.approx(result["balanced_accuracy"][0])


def test_multi_class_attribute():
    target = np.array([[0], [1], [2], [2]])
    pred = np.array([[0], [2], [2], [2]])
    result = attribute_metrics(pred, target, ["upcolor"])
    assert result["accuracy"][0] == pytest.approx(3 / 4)
    assert result["balanced_accuracy"][0] == pytest.approx((1 + 0 + 1) / 3)
    assert result["f1"][0] == pytest.approx((1 + 0 + 4 / 5) / 3)


def test_class_only_predicted_counts_in_f1_but_not_in_balanced_accuracy():
    result = attribute_metrics(np.array([[0], [1]]), np.array([[0], [0]]), ["hat"])
    assert result["balanced_accuracy"][0] == pytest.approx(0.5)  # TNR only: no positive target
    assert result["f1"][0] == pytest.approx((2 / 3 + 0) / 2)


def test_means_skip_attributes_without_labels():
    target = np.array([[1, -1, 2], [0, -1, 2]])
    pred = np.array([[1, 0, 2], [1, 1, 0]])
    result = attribute_metrics(pred, target, ["a", "b", "c"])
    assert result["columns"] == ("a", "b", "c")
    assert result["num_labelled"].tolist() == [2, 0, 2]
    assert np.isnan(result["accuracy"][1]) and np.isnan(result["f1"][1])
    assert result["mean_accuracy"] == pytest.approx((0.5 + 0.5) / 2)
    assert result["mA"] == pytest.approx((0.5 + 0.5) / 2)
    assert result["mean_f1"] == pytest.approx(((0 + 2 / 3) / 2 + (0 + 2 / 3) / 2) / 2)


def test_perfect_predictions_on_the_mars_schema():
    rng = np.random.default_rng(0)
    target = np.stack([rng.integers(0, n, 20) for n in MARS_ATTRIBUTES.num_classes], axis=1)
    result = attribute_metrics(target, target, MARS_ATTRIBUTES.columns)
    assert result["accuracy"].shape == (len(MARS_ATTRIBUTES.columns),)
    assert result["mean_accuracy"] == result["mA"] == result["mean_f1"] == 1.0


@pytest.mark.parametrize(
    ("pred", "target", "columns", "message"),
    [
        (np.zeros((3, 2), dtype=int), np.zeros((3, 1), dtype=int), ["a"], "same shape"),
        (np.zeros((3, 2), dtype=int), np.zeros((3, 2), dtype=int), ["a"], "1 column names for 2"),
        (np.zeros((3, 1)), np.zeros((3, 1), dtype=int), ["a"], "integer class indices"),
        (np.zeros(3, dtype=int), np.zeros(3, dtype=int), ["a"], "2-D"),
        (np.full((2, 1), -1), np.zeros((2, 1), dtype=int), ["a"], "negative class indices"),
        (np.zeros((2, 1), dtype=int), np.full((2, 1), -2), ["a"], "missing"),
    ],
)
def test_bad_input_raises(pred, target, columns, message):
    with pytest.raises(ValueError, match=message):
        attribute_metrics(pred, target, columns)
