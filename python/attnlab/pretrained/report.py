"""TagReport: precision, recall, F1 and support per tag of a tagging model on a Task, the
table scikit-learn's ``classification_report`` prints, without scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnlab.autograd import no_grad
from attnlab.data import IGNORE, Task
from attnlab.nn import Module
from attnlab.train import logits_of


@dataclass(frozen=True)
class TagReport:
    """Per tag (``labels``): ``precision``, ``recall``, ``f1``, ``support`` (arrays in label
    order), over the targets that count; ``accuracy`` over all of them. Zero divisions give 0,
    as scikit-learn's ``zero_division=0``."""

    labels: tuple[str, ...]
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float

    @classmethod
    def from_predictions(
        cls, targets: np.ndarray, predictions: np.ndarray, labels: tuple[str, ...]
    ) -> TagReport:
        """The report of label ids ``predictions`` against ``targets`` (same shape; targets
        equal to IGNORE do not count)."""
        targets, predictions = np.asarray(targets), np.asarray(predictions)
        if targets.shape != predictions.shape:
            raise ValueError(
                f"predictions: expected targets' shape {targets.shape}, got {predictions.shape}"
            )
        counted = targets != IGNORE
        t, p = targets[counted], predictions[counted]
        k = len(labels)
        support = np.bincount(t, minlength=k)[:k]
        predicted = np.bincount(p, minlength=k)[:k]
        right = np.bincount(t[t == p], minlength=k)[:k]
        precision = np.divide(right, predicted, out=np.zeros(k), where=predicted > 0)
        recall = np.divide(right, support, out=np.zeros(k), where=support > 0)
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total, out=np.zeros(k), where=total > 0)
        accuracy = float(right.sum() / max(len(t), 1))
        return cls(tuple(labels), precision, recall, f1, support, accuracy)

    def averages(self) -> dict[str, tuple[float, float, float]]:
        """ "macro avg" and "weighted avg" (by support) of (precision, recall, F1)."""
        weights = self.support / max(self.support.sum(), 1)
        rows = np.stack([self.precision, self.recall, self.f1])  # (3, K)
        return {
            "macro avg": tuple(rows.mean(axis=1).tolist()),
            "weighted avg": tuple((rows @ weights).tolist()),
        }

    def __str__(self) -> str:
        width = max(len(label) for label in self.labels + ("weighted avg",))
        lines = [f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}", ""]
        for i, label in enumerate(self.labels):
            lines.append(
                f"{label:>{width}} {self.precision[i]:9.2f} {self.recall[i]:9.2f} "
                f"{self.f1[i]:9.2f} {self.support[i]:9d}"
            )
        n = int(self.support.sum())
        lines += ["", f"{'accuracy':>{width}} {'':9} {'':9} {self.accuracy:9.2f} {n:9d}"]
        for name, (p, r, f) in self.averages().items():
            lines.append(f"{name:>{width}} {p:9.2f} {r:9.2f} {f:9.2f} {n:9d}")
        return "\n".join(lines)


@no_grad()
def tag_report(
    model: Module, task: Task, *, split: str = "test", batch_size: int = 64
) -> TagReport:
    """The :class:`TagReport` of ``model`` on a "tagging" Task's split, in eval mode (the mode
    is restored): the argmax of its logits at every counted target."""
    if not isinstance(task, Task) or task.kind != "tagging":
        raise TypeError(
            f"task: expected a Task of kind 'tagging', got "
            f"{getattr(task, 'kind', type(task).__name__)!r}"
        )
    training = model.training
    model.eval()
    targets, predictions = [], []
    try:
        for batch in task.batches(batch_size, split=split, shuffle=False):
            predictions.append(logits_of(model, task, batch).data.argmax(axis=-1))
            targets.append(batch.targets)
    finally:
        model.train(training)
    return TagReport.from_predictions(
        np.concatenate(targets), np.concatenate(predictions), task.labels
    )
