"""Element-wise activations relu, silu and gelu, forward and backward."""

from __future__ import annotations

import numpy as np

from attnlab import _core
from attnlab._memory import contiguous, empty_like
from attnlab._validation import expect_shape, float_array
from attnlab.autograd.function import Function
from attnlab.tensor import Tensor

_GELU = {"none": "gelu", "tanh": "gelu_tanh"}


def _forward(kind: str, x: np.ndarray) -> np.ndarray:
    x = contiguous(float_array(x, "x"))
    out = empty_like(x)
    _core.activation_forward(kind, x, out=out)
    return out


def _backward(kind: str, grad_out: np.ndarray, x: np.ndarray) -> np.ndarray:
    x = float_array(x, "x")
    g = float_array(grad_out, "grad_out", like=x, like_name="x")
    expect_shape(g, "grad_out", x.shape, "x's shape")
    x, g = contiguous(x), contiguous(g)
    dx = empty_like(x)
    _core.activation_backward(kind, g, x, dx=dx)
    return dx


class _Activation(Function):
    fresh_gradients = True

    def forward(ctx, x, *, kind):
        ctx.x, ctx.kind = contiguous(float_array(x, "x")), kind
        return _forward(kind, ctx.x)

    def backward(ctx, g):
        dx = empty_like(ctx.x)
        _core.activation_backward(ctx.kind, contiguous(g), ctx.x, dx=dx)
        return dx


def _run(kind: str, x):
    if isinstance(x, Tensor):
        return _Activation.apply(x, kind=kind)
    return _forward(kind, x)


def _gelu_kind(approximate: str) -> str:
    if approximate not in _GELU:
        raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")
    return _GELU[approximate]


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0); NaN stays NaN."""
    return _run("relu", x)


def relu_backward(grad_out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """grad_out where x > 0, else 0."""
    return _backward("relu", grad_out, x)


def silu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x) (swish)."""
    return _run("silu", x)


def silu_backward(grad_out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """grad_out * d silu / dx."""
    return _backward("silu", grad_out, x)


def gelu(x: np.ndarray, *, approximate: str = "none") -> np.ndarray:
    """x * Phi(x) with the exact erf form, or PyTorch's tanh approximation
    (``approximate="tanh"``)."""
    return _run(_gelu_kind(approximate), x)


def gelu_backward(grad_out: np.ndarray, x: np.ndarray, *, approximate: str = "none") -> np.ndarray:
    """grad_out * d gelu / dx, for the same ``approximate``."""
    return _backward(_gelu_kind(approximate), grad_out, x)
