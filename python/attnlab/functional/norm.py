"""layer_norm and rms_norm over the trailing ``normalized_shape`` axes, forward and backward."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attnlab import _core
from attnlab._memory import contiguous, empty, empty_like
from attnlab._validation import as_rows, expect_shape, float_array, index, positive
from attnlab.autograd.function import Function, takes_tensors


def _shape(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(normalized_shape, (list, tuple)):
        return tuple(index(n, "normalized_shape") for n in normalized_shape)
    return (index(normalized_shape, "normalized_shape"),)


def _prepare(x, normalized_shape, weight, bias, eps, grad_out=None):
    """x as (rows, n) and weight/bias as (n,), checked against ``normalized_shape``."""
    x = float_array(x, "x")
    shape = _shape(normalized_shape)
    k = len(shape)
    if x.ndim < k or x.shape[x.ndim - k :] != shape:
        raise ValueError(
            f"x: expected trailing axes of shape {shape} (normalized_shape), got shape {x.shape}"
        )
    params = []
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None:
            p = float_array(p, name, like=x, like_name="x")
            expect_shape(p, name, shape, "normalized_shape")
            p = contiguous(p).reshape(-1)
        params.append(p)
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    eps = positive(eps, "eps")
    g = None
    if grad_out is not None:
        g = float_array(grad_out, "grad_out", like=x, like_name="x")
        expect_shape(g, "grad_out", x.shape, "x's shape")
        g = as_rows(g, k)
    return x, as_rows(x, k), params[0], params[1], eps, g


class _Norm(Function):
    """layer_norm (with a bias argument) or rms_norm (bias None, rms=True)."""

    fresh_gradients = True

    def forward(ctx, x, weight, bias, *, normalized_shape, eps, rms):
        x, rows, w, b, eps, _ = _prepare(x, normalized_shape, weight, bias, eps)
        ctx.x_shape, ctx.rows, ctx.w, ctx.eps, ctx.rms = x.shape, rows, w, eps, rms
        ctx.param_shape = _shape(normalized_shape)
        out = empty_like(rows)
        if rms:
            _core.rms_norm_forward(rows, w, eps=eps, out=out)
        else:
            _core.layer_norm_forward(rows, w, b, eps=eps, out=out)
        return out.reshape(x.shape)

    def backward(ctx, g):
        _, need_w, need_b = ctx.needs_input_grad
        g = as_rows(g, len(ctx.param_shape))
        dx = empty_like(ctx.rows)
        dw = empty_like(ctx.w) if need_w else None
        if ctx.rms:
            _core.rms_norm_backward(g, ctx.rows, ctx.w, eps=ctx.eps, dx=dx, dweight=dw)
            db = None
        else:
            db = empty(ctx.rows.shape[1], ctx.rows.dtype) if need_b else None
            _core.layer_norm_backward(g, ctx.rows, ctx.w, eps=ctx.eps, dx=dx, dweight=dw, dbias=db)
        shaped = [None if a is None else a.reshape(ctx.param_shape) for a in (dw, db)]
        return (dx.reshape(ctx.x_shape), *shaped)


def layer_norm(
    x: np.ndarray,
    normalized_shape: int | Sequence[int],
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) * weight + bias over the last ``len(normalized_shape)`` axes.

    As ``torch.nn.functional.layer_norm``: biased variance, weight and bias of shape
    ``normalized_shape`` (None = 1 and 0). Statistics are two-pass, so large means are exact
    enough; a constant row gives ``bias``. ``eps`` must be > 0.
    """
    if takes_tensors(x, weight, bias):
        return _Norm.apply(x, weight, bias, normalized_shape=normalized_shape, eps=eps, rms=False)
    x, rows, w, b, eps, _ = _prepare(x, normalized_shape, weight, bias, eps)
    out = empty_like(rows)
    _core.layer_norm_forward(rows, w, b, eps=eps, out=out)
    return out.reshape(x.shape)


def layer_norm_backward(
    grad_out: np.ndarray,
    x: np.ndarray,
    normalized_shape: int | Sequence[int],
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`layer_norm`: (dx, dweight, dbias); dweight/dbias are None when
    weight/bias are."""
    x, rows, w, b, eps, g = _prepare(x, normalized_shape, weight, bias, eps, grad_out)
    dx = empty_like(rows)
    dw = empty_like(w) if w is not None else None
    db = empty_like(b) if b is not None else None
    _core.layer_norm_backward(g, rows, w, eps=eps, dx=dx, dweight=dw, dbias=db)
    return (
        dx.reshape(x.shape),
        None if dw is None else dw.reshape(weight.shape),
        None if db is None else db.reshape(bias.shape),
    )


def rms_norm(
    x: np.ndarray,
    normalized_shape: int | Sequence[int],
    weight: np.ndarray | None = None,
    eps: float | None = None,
) -> np.ndarray:
    """x / sqrt(mean(x^2) + eps) * weight over the last ``len(normalized_shape)`` axes.

    As ``torch.nn.functional.rms_norm``: ``eps=None`` means the dtype's machine epsilon.
    """
    if takes_tensors(x, weight):
        return _Norm.apply(x, weight, None, normalized_shape=normalized_shape, eps=eps, rms=True)
    x, rows, w, _, eps, _ = _prepare(x, normalized_shape, weight, None, eps)
    out = empty_like(rows)
    _core.rms_norm_forward(rows, w, eps=eps, out=out)
    return out.reshape(x.shape)


def rms_norm_backward(
    grad_out: np.ndarray,
    x: np.ndarray,
    normalized_shape: int | Sequence[int],
    weight: np.ndarray | None = None,
    eps: float | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Gradients of :func:`rms_norm`: (dx, dweight); dweight is None when weight is."""
    x, rows, w, _, eps, g = _prepare(x, normalized_shape, weight, None, eps, grad_out)
    dx = empty_like(rows)
    dw = empty_like(w) if w is not None else None
    _core.rms_norm_backward(g, rows, w, eps=eps, dx=dx, dweight=dw)
    return dx.reshape(x.shape), None if dw is None else dw.reshape(weight.shape)
