"""fit(): train a model on a Task with AdamW, a warmup-cosine schedule and gradient clipping,
evaluate it, and keep attention snapshots for the timeline view; History holds the record."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnlab import optim
from attnlab._validation import at_least, real_number
from attnlab.autograd import no_grad
from attnlab.data import Batch, Task
from attnlab.functional import cross_entropy
from attnlab.nn import Module
from attnlab.nn.recording import record_attention
from attnlab.tensor import Tensor

IGNORE = -100


@dataclass
class History:
    """What fit() saw: the training loss and learning rate at every step, test loss and
    accuracies at every evaluation, and attention snapshots (step, {module name: weights})."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    test_sequence_accuracy: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, dict[str, np.ndarray]]] = field(default_factory=list)
    snapshot_inputs: np.ndarray | None = None
    seconds: float = 0.0
    interrupted: bool = False

    def to_dict(self) -> dict[str, list[tuple[int, float]]]:
        """Each series as (step, value) pairs: "loss" and "lr" per step, "test_loss",
        "test_accuracy" and "test_sequence_accuracy" per evaluation (``viz.curves`` reads it)."""
        per_eval = {
            "test_loss": self.test_loss,
            "test_accuracy": self.test_accuracy,
            "test_sequence_accuracy": self.test_sequence_accuracy,
        }
        out = {"loss": list(zip(self.steps, self.loss)), "lr": list(zip(self.steps, self.lr))}
        out.update({name: list(zip(self.eval_steps, values)) for name, values in per_eval.items()})
        return out

    def timeline(
        self, name: str | None = None, example: int = 0
    ) -> list[tuple[int, dict[str, np.ndarray]]]:
        """Snapshots as the timeline view takes them: (step, {module name: weights (H, Lq,
        Lk)}) of snapshot row ``example``, for one attention module (``name``) or, when name
        is None, every module of the first one's shape (a decoder's cross attention, of
        another shape, needs its name). ``al.viz.timeline(history)`` reads them itself."""
        if not self.snapshots:
            raise ValueError("timeline: no snapshots (pass snapshot_every= to fit)")
        names = list(self.snapshots[0][1])
        if name is not None and name not in names:
            raise ValueError(f"name: {name!r} is not a recorded module; recorded: {names}")
        shape = self.snapshots[0][1][names[0] if name is None else name].shape
        chosen = (
            [name]
            if name is not None
            else [n for n in names if self.snapshots[0][1][n].shape == shape]
        )
        return [(step, {n: record[n][example] for n in chosen}) for step, record in self.snapshots]

    def plot(self, **kwargs: Any):
        """The training curves (attnlab.viz.curves; needs matplotlib:
        ``pip install attnlab[viz]``)."""
        from attnlab import viz

        return viz.curves(self, **kwargs)

    def __repr__(self) -> str:
        last = f", test_accuracy={self.test_accuracy[-1]:.4f}" if self.test_accuracy else ""
        loss = f", loss={self.loss[-1]:.4f}" if self.loss else ""
        note = ", interrupted" if self.interrupted else ""
        return f"History(steps={len(self.steps)}{loss}{last}, seconds={self.seconds:.1f}{note})"


def logits_of(model: Module, task: Task, batch: Batch) -> Tensor:
    """The model's output for a batch, by the task's kind."""
    if task.kind == "seq2seq":
        return model(batch.source, batch.inputs)
    if task.kind in ("tagging", "classify") and batch.key_mask is not None:
        return model(batch.inputs, key_mask=batch.key_mask)
    return model(batch.inputs)


def _flat(logits: Tensor, targets: np.ndarray) -> tuple[Tensor, np.ndarray]:
    k = logits.shape[-1]
    return logits.reshape(-1, k), targets.reshape(-1)


@no_grad()
def evaluate(
    model: Module,
    task: Task,
    *,
    split: str = "test",
    max_samples: int | None = None,
    batch_size: int = 256,
) -> dict[str, float]:
    """Loss, token accuracy (over the positions that count) and sequence accuracy (every
    counted position right) on a split, in eval mode; the mode is restored afterwards."""
    was_training = model.training
    model.eval()
    total_loss = correct = counted = rows_right = rows = 0.0
    seen = 0
    try:
        for batch in task.batches(batch_size, split=split, shuffle=False):
            if max_samples is not None and seen >= max_samples:
                break
            seen += len(batch)
            logits = logits_of(model, task, batch).data
            targets = batch.targets
            flat_logits, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
            n = int((flat_targets != IGNORE).sum())
            if n:
                total_loss += float(cross_entropy(flat_logits, flat_targets, reduction="sum"))
            keep = targets != IGNORE
            right = (logits.argmax(axis=-1) == targets) & keep
            correct += right.sum()
            counted += n
            per_row = right.reshape(len(batch), -1).sum(1) == keep.reshape(len(batch), -1).sum(1)
            rows_right += per_row.sum()
            rows += len(batch)
    finally:
        model.train(was_training)
    return {
        "loss": total_loss / max(counted, 1),
        "accuracy": float(correct / max(counted, 1)),
        "sequence_accuracy": float(rows_right / max(rows, 1)),
    }


def _param_groups(model: Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices (dim >= 2) only, not on biases and norm gains (nanoGPT)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if rest:
        groups.append({"params": rest, "weight_decay": 0.0})
    return groups


class _Progress:
    """A tqdm.auto bar when tqdm is installed (Jupyter widget or terminal), else a line of
    text at each evaluation; nothing with progress=False.

    In Jupyter the widget is shown through a display handle, and replaced by a line of text
    when training ends: a saved notebook keeps that summary instead of a widget that no
    longer exists ("Error displaying widget") or its first frame ("0/200")."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        self.handle = None
        self.enabled = enabled
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            if any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__):
                from IPython.display import display

                self.bar = tqdm(total=total, unit="step", display=False)
                self.handle = display(self.bar.container, display_id=True)
            else:
                self.bar = tqdm(total=total, unit="step", dynamic_ncols=True)

    def update(self, postfix: dict[str, str]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(postfix, refresh=False)

    def note(self, step: int, postfix: dict[str, str]) -> None:
        if self.enabled and self.bar is None:
            print(f"step {step}: " + ", ".join(f"{k} {v}" for k, v in postfix.items()), flush=True)

    def close(self, summary: str) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.handle is not None:
            self.handle.update({"text/plain": summary}, raw=True)


def fit(
    model: Module,
    task: Task,
    *,
    steps: int = 1000,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.98),
    warmup_steps: int | None = None,
    min_lr_ratio: float = 0.1,
    clip_grad_norm: float | None = 1.0,
    label_smoothing: float = 0.0,
    eval_every: int | None = None,
    eval_samples: int | None = 1024,
    snapshot_every: int | None = None,
    snapshot_samples: int = 4,
    seed: int = 0,
    progress: bool = True,
    callback: Callable[[int, History], None] | None = None,
) -> History:
    """Trains ``model`` on ``task`` for ``steps`` optimizer steps and returns a History.

    AdamW (weight decay on matrices only) with a linear warmup (default: the first 5% of the
    steps) and a cosine decay to ``min_lr_ratio * lr``, gradient clipping at
    ``clip_grad_norm``, cross-entropy over the positions that count. Every ``eval_every``
    steps (default: ten evaluations) it measures test loss and accuracy on up to
    ``eval_samples`` test rows; every ``snapshot_every`` steps it records every attention
    module's weights on the first ``snapshot_samples`` test rows (``History.timeline``).
    Batches are drawn from ``seed``. Ctrl-C stops cleanly: the model keeps what it learned and
    the History says ``interrupted``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model: expected an attnlab.nn.Module, got {type(model).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task: expected an attnlab.data.Task, got {type(task).__name__}")
    steps = at_least(steps, "steps", 0)
    batch_size = at_least(batch_size, "batch_size", 1)
    eval_every = (
        max(steps // 10, 1) if eval_every is None else at_least(eval_every, "eval_every", 1)
    )
    warmup_steps = (
        max(steps // 20, 1) if warmup_steps is None else at_least(warmup_steps, "warmup_steps", 0)
    )
    if snapshot_every is not None:
        snapshot_every = at_least(snapshot_every, "snapshot_every", 1)
    lr = real_number(lr, "lr")
    min_lr_ratio = real_number(min_lr_ratio, "min_lr_ratio")
    if not 0 <= min_lr_ratio <= 1:
        raise ValueError(f"min_lr_ratio: expected a number in [0, 1], got {min_lr_ratio}")
    if clip_grad_norm is not None and real_number(clip_grad_norm, "clip_grad_norm") <= 0:
        raise ValueError(f"clip_grad_norm: expected a number > 0 or None, got {clip_grad_norm}")

    optimizer = optim.AdamW(_param_groups(model, weight_decay), lr=lr, betas=betas)
    schedule = optim.WarmupCosine(
        optimizer,
        warmup_steps=warmup_steps,
        total_steps=max(steps, warmup_steps + 1),
        min_lr=lr * min_lr_ratio,
    )
    params = [p for g in optimizer.param_groups for p in g["params"]]
    history = History()
    snapshot_rows = task.test.inputs[:snapshot_samples]
    history.snapshot_inputs = snapshot_rows
    rng = np.random.default_rng(seed)
    bar = _Progress(steps, progress)
    start = time.perf_counter()
    model.train()

    def snapshot(step: int) -> None:
        rows = np.arange(min(snapshot_samples, len(task.test)))
        with record_attention(model) as rec, no_grad():
            was_training = model.training
            model.eval()
            try:
                logits_of(model, task, task.test.take(rows))
            finally:
                model.train(was_training)
        history.snapshots.append((step, dict(rec)))

    def evaluation(step: int) -> dict[str, str]:
        result = evaluate(model, task, max_samples=eval_samples)
        history.eval_steps.append(step)
        history.test_loss.append(result["loss"])
        history.test_accuracy.append(result["accuracy"])
        history.test_sequence_accuracy.append(result["sequence_accuracy"])
        return {"test_acc": f"{result['accuracy']:.3f}"}

    postfix: dict[str, str] = {}
    try:
        if snapshot_every is not None:
            snapshot(0)
        for step in range(1, steps + 1):
            batch = task.sample(batch_size, seed=rng)
            logits, targets = _flat(logits_of(model, task, batch), batch.targets)
            loss = cross_entropy(
                logits, targets, ignore_index=IGNORE, label_smoothing=label_smoothing
            )
            optimizer.zero_grad()
            loss.backward()
            if clip_grad_norm is not None:
                optim.clip_grad_norm_(params, clip_grad_norm)
            history.lr.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
            history.steps.append(step)
            history.loss.append(float(loss.data))
            postfix["loss"] = f"{history.loss[-1]:.4f}"
            if step % eval_every == 0 or step == steps:
                postfix.update(evaluation(step))
                bar.note(step, postfix)
            if snapshot_every is not None and (step % snapshot_every == 0 or step == steps):
                snapshot(step)
            bar.update(postfix)
            if callback is not None:
                callback(step, history)
    except KeyboardInterrupt:
        history.interrupted = True
    finally:
        history.seconds = time.perf_counter() - start
        bar.close(
            f"fit: {len(history.steps)}/{steps} steps in {history.seconds:.1f} s"
            + "".join(f", {k} {v}" for k, v in postfix.items())
            + (" (interrupted)" if history.interrupted else "")
        )
    return history
