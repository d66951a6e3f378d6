"""Matrix products over NumPy arrays with ``np.matmul``'s semantics, on the core's own batched,
register-tiled GEMM (never NumPy's BLAS, whose spinning threads would slow attnlab's pool)."""

from __future__ import annotations

import math

import numpy as np

from attnlab import _core
from attnlab._memory import empty, reshape
from attnlab._validation import float_array, sum_to_shape
from attnlab.autograd.function import Function
from attnlab.tensor import Tensor

_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


def _aligned(x: np.ndarray) -> np.ndarray:
    """``x``, or an explicit copy when its data or strides are not whole elements apart (the
    core reads any other strides in place, negative and zero ones included)."""
    return x if x.flags.aligned else x.copy()


def _batch_shape(a: np.ndarray, b: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> tuple[int, ...]:
    """The broadcast batch shape of the (..., m, k) and (..., k, n) operands a2 and b2."""
    sa, sb = a2.shape[:-2], b2.shape[:-2]
    if sa == sb:
        return sa
    lead = max(len(sa), len(sb))
    sa, sb = (1,) * (lead - len(sa)) + sa, (1,) * (lead - len(sb)) + sb
    for axis, (na, nb) in enumerate(zip(sa, sb)):
        if na != nb and na != 1 and nb != 1:
            axis_b = axis - (lead - (b2.ndim - 2))
            axis_a = axis - (lead - (a2.ndim - 2))
            raise ValueError(
                f"b: batch axis {axis_b} has size {nb}, expected {na} or 1 to broadcast with "
                f"a's axis {axis_a} (a {a.shape}, b {b.shape})"
            )
    return tuple(na if nb == 1 else nb for na, nb in zip(sa, sb))


def _operands(a, b):
    """Checked a and b, their (..., m, k) and (..., k, n) forms (1-D operands promoted as
    np.matmul does), the batch shape and the result's shape."""
    a = float_array(a, "a")
    b = float_array(b, "b", like=a, like_name="a")
    if a.ndim == 0:
        raise ValueError("a: expected at least 1 dimension, got a 0-d array")
    if b.ndim == 0:
        raise ValueError("b: expected at least 1 dimension, got a 0-d array")
    a2 = a[None, :] if a.ndim == 1 else a  # (1, k)
    b2 = b[:, None] if b.ndim == 1 else b  # (k, 1)
    if b2.shape[-2] != a2.shape[-1]:
        axis = 0 if b.ndim == 1 else -2
        raise ValueError(
            f"b: axis {axis} (k) has size {b2.shape[-2]}, expected {a2.shape[-1]} to match a's "
            f"last axis (a {a.shape}, b {b.shape})"
        )
    batch = _batch_shape(a, b, a2, b2)
    shape = batch + a.shape[-2:-1] * (a.ndim > 1) + b.shape[-1:] * (b.ndim > 1)
    return a, b, _aligned(a2), _aligned(b2), batch, shape


def _product(x: np.ndarray, y: np.ndarray, batch: tuple[int, ...]) -> np.ndarray:
    """x (..., m, k) @ y (..., k, n) into a new C-contiguous (*batch, m, n) array."""
    out = empty(batch + (x.shape[-2], y.shape[-1]), x.dtype)
    _core.matmul(x, y, out)
    return out


class _MatMul(Function):
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return matmul(a, b)

    def backward(ctx, g):
        needs_a, needs_b = ctx.needs_input_grad
        a, b = ctx.a, ctx.b
        if a.ndim == 2 and b.ndim == 2:  # the chain of small products: two plain GEMMs
            return (matmul(g, b.T) if needs_a else None), (matmul(a.T, g) if needs_b else None)
        return matmul_backward(g, a, b, needs_a=needs_a, needs_b=needs_b)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` as ``np.matmul`` computes it, on attnlab's GEMM (Tensors in: a Tensor out,
    recorded for autograd).

    Args:
        a: (..., m, k) or (k,), float32 or float64.
        b: (..., k, n) or (k,), a's dtype. Batch axes broadcast; a 1-D ``a`` is a row, a 1-D
            ``b`` a column, and that axis is removed from the result.

    Returns:
        (broadcast batch..., m, n), a new C-contiguous array. Transposed, strided,
        negative-stride and broadcast views are read in place, never copied or written.
    """
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return _MatMul.apply(a, b)
    if (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.ndim == 2
        and b.ndim == 2
        and a.dtype is b.dtype
        and (a.dtype is _FLOAT32 or a.dtype is _FLOAT64)
        and a.shape[1] == b.shape[0]
        and a.flags.aligned
        and b.flags.aligned
    ):
        # Two valid matrices, the per-op cost of a chain of small products: straight to the
        # core (whose binding checks its boundary anyway).
        out = empty((a.shape[0], b.shape[1]), a.dtype)
        _core.matmul(a, b, out)
        return out
    a, b, a2, b2, batch, shape = _operands(a, b)
    out = _product(a2, b2, batch)
    return out if out.shape == shape else out.reshape(shape)


def _rows(x: np.ndarray) -> np.ndarray:
    """x (..., r, c) as (N r, c): a view when its leading axes merge, else a C-order copy."""
    shape = (math.prod(x.shape[:-1]), x.shape[-1])
    return reshape(x, shape)


def _gradient(
    left: np.ndarray, right: np.ndarray, batch: tuple[int, ...], shape: tuple[int, ...]
) -> np.ndarray:
    """left @ right over the batch, summed to an operand's ``shape`` over its broadcast axes."""
    if math.prod(shape[:-2]) == 1 and math.prod(batch) > 1:
        # The operand is shared by the whole batch (W of x @ W): its gradient is one product
        # that sums over (batch, contracted axis) as one long axis, instead of a batch of
        # products summed afterwards.
        summed = _product(_rows(left.swapaxes(-1, -2)).T, _rows(right), ())
        return summed.reshape(shape)
    full = _product(left, right, batch)
    return sum_to_shape(full, shape) if full.shape != shape else full


def matmul_backward(
    grad_out: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    needs_a: bool = True,
    needs_b: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`matmul`: ``(da, db)`` of a's and b's own shapes (summed over the
    batch axes they were broadcast along); None for one not needed."""
    a, b, a2, b2, batch, shape = _operands(a, b)
    grad_out = float_array(grad_out, "grad_out", like=a, like_name="a")
    if grad_out.shape != shape:
        raise ValueError(f"grad_out: expected the output's shape {shape}, got {grad_out.shape}")
    g = _aligned(grad_out.reshape(batch + (a2.shape[-2], b2.shape[-1])))  # (..., m, n), a view
    da = db = None
    if needs_a:  # da = g b^T: (..., m, n) (..., n, k)
        da = _gradient(g, b2.swapaxes(-1, -2), batch, a2.shape).reshape(a.shape)
    if needs_b:  # db = a^T g: (..., k, m) (..., m, n)
        db = _gradient(a2.swapaxes(-1, -2), g, batch, b2.shape).reshape(b.shape)
    return da, db
