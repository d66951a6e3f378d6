"""cross_entropy with class-index targets, fused with log-softmax, forward and backward."""

from __future__ import annotations

import numpy as np

from attnlab import _core
from attnlab._memory import contiguous, empty, empty_like
from attnlab._validation import expect_shape, float_array, index, int_array, real_number
from attnlab.autograd.function import Function
from attnlab.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _prepare(logits, target, ignore_index, label_smoothing, reduction):
    """logits as (rows, C) with the class axis last, target as (rows,), and the options."""
    logits = float_array(logits, "logits")
    if logits.ndim == 0:
        raise ValueError("logits: expected (C,), (N, C) or (N, C, d1, ...), got a 0-d array")
    target = int_array(target, "target")
    # PyTorch's layout: the class axis is 1, or 0 for an unbatched (C,) input.
    class_axis = 0 if logits.ndim == 1 else 1
    expected = logits.shape[:class_axis] + logits.shape[class_axis + 1 :]
    expect_shape(target, "target", expected, "logits' shape without the class axis")
    ignore_index = index(ignore_index, "ignore_index")
    label_smoothing = real_number(label_smoothing, "label_smoothing")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"label_smoothing: expected 0 <= label_smoothing <= 1, got {label_smoothing}"
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")
    classes = logits.shape[class_axis]
    if classes == 0 and target.size > 0:
        raise ValueError(
            f"logits: expected at least 1 class along axis {class_axis}, got shape {logits.shape}"
        )
    # An explicit row count: for an empty (0, 0) input reshape cannot infer it.
    rows = contiguous(np.moveaxis(logits, class_axis, -1)).reshape(target.size, classes)
    options = dict(ignore_index=ignore_index, label_smoothing=label_smoothing)
    return rows, target.reshape(-1), options


def _count(target: np.ndarray, ignore_index: int) -> int:
    return int(np.count_nonzero(target != ignore_index))


class _CrossEntropy(Function):
    fresh_gradients = True

    def forward(ctx, logits, target, *, options):
        ctx.logits, ctx.target, ctx.options = logits, target, options
        return cross_entropy(logits, target, **options)

    def backward(ctx, g):
        if ctx.options["reduction"] != "none":
            g = float(g)
        return cross_entropy_backward(g, ctx.logits, ctx.target, **ctx.options), None


def cross_entropy(
    logits: np.ndarray,
    target: np.ndarray,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> np.ndarray:
    """-log softmax(logits)[target], as ``torch.nn.functional.cross_entropy`` with class indices.

    Args:
        logits: (C,), (N, C) or (N, C, d1, ...) scores, C >= 1 unless there are no rows;
            float32 or float64.
        target: class indices of logits' shape without the class axis, each in [0, C) or
            ``ignore_index`` (such positions add nothing and get zero gradient).
        label_smoothing: mixes the target with the uniform distribution over the C classes.
        reduction: "mean" (over non-ignored targets; NaN if all are ignored, as in PyTorch),
            "sum", or "none" (per-position losses of target's shape).

    Returns:
        A 0-d array for "mean" and "sum", else an array of target's shape.
    """
    if isinstance(logits, Tensor) or isinstance(target, Tensor):
        target = target.data if isinstance(target, Tensor) else target
        options = dict(
            ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction
        )
        return _CrossEntropy.apply(logits, target, options=options)
    rows, flat_target, options = _prepare(logits, target, ignore_index, label_smoothing, reduction)
    loss = empty(rows.shape[0], dtype=rows.dtype)
    _core.cross_entropy_forward(rows, flat_target, loss=loss, **options)
    if reduction == "none":
        return loss.reshape(target.shape)
    total = loss.sum(dtype=np.float64)
    if reduction == "mean":
        count = _count(flat_target, options["ignore_index"])
        total = total / count if count else np.nan
    return np.asarray(total, dtype=rows.dtype)


def cross_entropy_backward(
    grad_out: np.ndarray | float,
    logits: np.ndarray,
    target: np.ndarray,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to logits (logits' shape).

    ``grad_out`` is the gradient of the loss: a number or 0-d array for "mean" and "sum", an
    array of target's shape for "none".
    """
    rows, flat_target, options = _prepare(logits, target, ignore_index, label_smoothing, reduction)
    if reduction == "none":
        g = float_array(grad_out, "grad_out", like=rows, like_name="logits")
        expect_shape(g, "grad_out", target.shape, "target's shape")
        row_grad = contiguous(g).reshape(-1)
    else:
        if isinstance(grad_out, np.ndarray):
            g = float_array(grad_out, "grad_out", like=rows, like_name="logits")
            expect_shape(g, "grad_out", (), "a 0-d loss")
            g = float(g)
        else:
            g = real_number(grad_out, "grad_out")
        if reduction == "mean":
            g /= max(_count(flat_target, options["ignore_index"]), 1)
        row_grad = np.full(rows.shape[0], g, dtype=rows.dtype)
    dlogits = empty_like(rows)
    _core.cross_entropy_backward(row_grad, rows, flat_target, dlogits=dlogits, **options)
    class_axis = 0 if logits.ndim == 1 else 1
    moved = np.moveaxis(logits, class_axis, -1).shape
    return np.moveaxis(dlogits.reshape(moved), -1, class_axis)
