"""Linear layers over NumPy arrays: x @ weight.T + bias on the core's register-tiled GEMM."""

from __future__ import annotations

import math

import numpy as np

from attnlab import _core
from attnlab._memory import contiguous, empty, empty_like, reshape
from attnlab._validation import expect_ndim, expect_size, float_array
from attnlab.autograd.function import Function, takes_tensors


def _check(x, weight, bias):
    x = float_array(x, "x")
    weight = float_array(weight, "weight", like=x, like_name="x")
    if x.ndim < 1:
        raise ValueError(f"x: expected at least 1 dimension (..., in), got shape {x.shape}")
    expect_ndim(weight, "weight", range(2, 3), "(out, in)")
    expect_size(x, "x", -1, weight.shape[1], "in, must match weight's axis 1")
    if bias is not None:
        bias = float_array(bias, "bias", like=x, like_name="x")
        expect_ndim(bias, "bias", range(1, 2), "(out,)")
        expect_size(bias, "bias", 0, weight.shape[0], "out, must match weight's axis 0")
        bias = contiguous(bias)
    return x, contiguous(weight), bias


def _rows(x: np.ndarray) -> np.ndarray:
    """(..., C) as a C-contiguous (N, C); explicit N, so that C = 0 works too."""
    return contiguous(reshape(x, (math.prod(x.shape[:-1]), x.shape[-1])))


class _Linear(Function):
    fresh_gradients = True

    def forward(ctx, x, weight, bias):
        x, weight, bias = _check(x, weight, bias)
        ctx.x_shape, ctx.rows, ctx.weight = x.shape, _rows(x), weight
        return _forward(ctx.rows, weight, bias).reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(ctx, g):
        need_x, need_w, need_b = ctx.needs_input_grad
        rows, weight = ctx.rows, ctx.weight
        dx = empty_like(rows) if need_x else None
        dweight = empty_like(weight) if need_w else None
        dbias = empty(weight.shape[0], dtype=rows.dtype) if need_b else None
        _core.linear_backward(_rows(g), rows, weight, dx, dweight, dbias)
        return (None if dx is None else dx.reshape(ctx.x_shape)), dweight, dbias


def _forward(x2: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    y = empty((x2.shape[0], weight.shape[0]), dtype=x2.dtype)
    _core.linear_forward(x2, weight, bias, y)
    return y


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``x @ weight.T + bias`` as in ``torch.nn.functional.linear``.

    Args:
        x: (..., in), float32 or float64.
        weight: (out, in) with x's dtype.
        bias: optional (out,).

    Returns:
        (..., out).
    """
    if takes_tensors(x, weight, bias):
        return _Linear.apply(x, weight, bias)
    x, weight, bias = _check(x, weight, bias)
    return _forward(_rows(x), weight, bias).reshape(x.shape[:-1] + (weight.shape[0],))


def linear_backward(
    grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """Gradients of :func:`linear`: ``(dx, dweight)``, plus ``dbias`` when ``bias`` is given."""
    x, weight, bias = _check(x, weight, bias)
    grad_out = float_array(grad_out, "grad_out", like=x, like_name="x")
    out_features, in_features = weight.shape
    want = x.shape[:-1] + (out_features,)
    if grad_out.shape != want:
        raise ValueError(f"grad_out: expected the output's shape {want}, got {grad_out.shape}")
    x2 = _rows(x)  # (N, in)
    g2 = _rows(grad_out)  # (N, out)
    dx = empty_like(x2)
    dweight = empty((out_features, in_features), dtype=x.dtype)
    dbias = empty(out_features, dtype=x.dtype) if bias is not None else None
    _core.linear_backward(g2, x2, weight, dx, dweight, dbias)
    grads = (dx.reshape(x.shape), dweight)
    return grads if bias is None else grads + (dbias,)
