"""softmax and log_softmax along an axis, forward and backward."""

from __future__ import annotations

import numpy as np

from attnlab import _core
from attnlab._memory import empty_like
from attnlab._validation import as_rows, axis_index, expect_shape, float_array
from attnlab.autograd.function import Function
from attnlab.tensor import Tensor


def _run(x, axis, log, grad_out=None):
    x = float_array(x, "x")
    if x.ndim == 0:
        raise ValueError("x: expected at least 1 dimension, got a 0-d array")
    axis = axis_index(axis, x.ndim)
    moved = np.moveaxis(x, axis, -1)
    rows = as_rows(moved)
    out = empty_like(rows)
    if grad_out is None:
        _core.softmax_forward(rows, log, out=out)
    else:
        g = float_array(grad_out, "grad_out", like=x, like_name="x")
        expect_shape(g, "grad_out", x.shape, "x's shape")
        _core.softmax_backward(as_rows(np.moveaxis(g, axis, -1)), rows, log, dx=out)
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


class _Softmax(Function):
    def forward(ctx, x, *, axis, log):
        ctx.x, ctx.axis, ctx.log = x, axis, log
        return _run(x, axis, log)

    def backward(ctx, g):
        return _run(ctx.x, ctx.axis, ctx.log, g)


def _dispatch(x, axis, log):
    if isinstance(x, Tensor):
        return _Softmax.apply(x, axis=axis, log=log)
    return _run(x, axis, log)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, with the maximum subtracted first."""
    return _dispatch(x, axis, False)


def softmax_backward(grad_out: np.ndarray, x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Gradient of :func:`softmax` with respect to x: y * (grad_out - sum(grad_out * y))."""
    return _run(x, axis, False, grad_out)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - log(sum(exp(x))) along ``axis``, stable for large values."""
    return _dispatch(x, axis, True)


def log_softmax_backward(grad_out: np.ndarray, x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Gradient of :func:`log_softmax`: grad_out - softmax(x) * sum(grad_out)."""
    return _run(x, axis, True, grad_out)
