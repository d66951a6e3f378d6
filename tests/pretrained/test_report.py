"""TagReport: scikit-learn's classification_report numbers, without scikit-learn."""

import numpy as np
import pytest

import attnlab as al
from attnlab.data import IGNORE
from attnlab.pretrained import TagReport, tag_report

LABELS = ("keyword", "name", "builtin", "number")


def test_matches_scikit_learn(rng):
    metrics = pytest.importorskip("sklearn.metrics")
    targets = rng.integers(0, 4, (20, 9))
    targets[rng.random(targets.shape) < 0.2] = IGNORE
    predictions = np.where(
        rng.random(targets.shape) < 0.6, targets, rng.integers(0, 4, targets.shape)
    )
    predictions[targets == 3] = 0  # a tag never predicted: precision 0 by zero_division=0
    report = TagReport.from_predictions(targets, predictions, LABELS)
    counted = targets != IGNORE
    ref = metrics.classification_report(
        targets[counted],
        predictions[counted],
        labels=range(4),
        target_names=LABELS,
        output_dict=True,
        zero_division=0,
    )
    for i, label in enumerate(LABELS):
        assert report.precision[i] == pytest.approx(ref[label]["precision"])
        assert report.recall[i] == pytest.approx(ref[label]["recall"])
        assert report.f1[i] == pytest.approx(ref[label]["f1-score"])
        assert report.support[i] == ref[label]["support"]
    assert report.accuracy == pytest.approx(ref["accuracy"])
    for name, values in report.averages().items():
        assert values == pytest.approx([ref[name][k] for k in ("precision", "recall", "f1-score")])
    text = str(report)
    assert "precision" in text and "weighted avg" in text and text.count("\n") == len(LABELS) + 5


def test_perfect_and_errors():
    targets = np.array([[0, 1, IGNORE], [2, 2, 3]])
    report = TagReport.from_predictions(targets, np.array([[0, 1, 3], [2, 2, 3]]), LABELS)
    assert report.accuracy == 1.0 and (report.f1 == 1).all()
    np.testing.assert_array_equal(report.support, [1, 1, 2, 1])
    with pytest.raises(
        ValueError, match=r"predictions: expected targets' shape \(2, 3\), got \(2,\)"
    ):
        TagReport.from_predictions(targets, np.zeros(2, dtype=int), LABELS)


def test_tag_report_needs_a_tagging_task():
    task = al.data.tasks.reverse(length=4, n_train=10, n_test=10)
    with pytest.raises(TypeError, match="task: expected a Task of kind 'tagging', got 'lm'"):
        tag_report(al.nn.Linear(2, 2), task)
