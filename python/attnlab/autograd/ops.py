"""The Tensor's own operations as Functions: arithmetic, elementwise maths, reductions and
shape changes. Each backward reduces a broadcast operand's gradient to its shape."""

from __future__ import annotations

import math

import numpy as np

from attnlab._memory import elementwise, reshape, zeros
from attnlab.autograd.function import Function


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sums ``grad`` over the axes that broadcasting ``shape`` up to ``grad.shape`` added."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _shape(x) -> tuple[int, ...]:
    return x.shape if isinstance(x, np.ndarray) else ()


class Add(Function):
    def forward(ctx, a, b):
        ctx.shapes = _shape(a), _shape(b)
        return elementwise(np.add, a, b)

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (
            unbroadcast(g, ctx.shapes[0]) if na else None,
            unbroadcast(g, ctx.shapes[1]) if nb else None,
        )


class Sub(Function):
    def forward(ctx, a, b):
        ctx.shapes = _shape(a), _shape(b)
        return elementwise(np.subtract, a, b)

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (
            unbroadcast(g, ctx.shapes[0]) if na else None,
            unbroadcast(-g, ctx.shapes[1]) if nb else None,
        )


class Mul(Function):
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return elementwise(np.multiply, a, b)

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (
            unbroadcast(g * ctx.b, _shape(ctx.a)) if na else None,
            unbroadcast(g * ctx.a, _shape(ctx.b)) if nb else None,
        )


class Div(Function):
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return elementwise(np.divide, a, b)

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        gb = g / ctx.b
        return (
            unbroadcast(gb, _shape(ctx.a)) if na else None,
            unbroadcast(-gb * ctx.a / ctx.b, _shape(ctx.b)) if nb else None,
        )


class Neg(Function):
    def forward(ctx, a):
        return np.negative(a)

    def backward(ctx, g):
        return -g


class Pow(Function):
    """a ** c for a number c."""

    def forward(ctx, a, *, exponent):
        ctx.a, ctx.c = a, exponent
        return np.power(a, a.dtype.type(exponent)) if a.dtype.kind == "f" else np.power(a, exponent)

    def backward(ctx, g):
        c = ctx.a.dtype.type(ctx.c)
        return g * c * np.power(ctx.a, c - 1)


class PowTensor(Function):
    """a ** b for two tensors."""

    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        ctx.out = np.power(a, b)
        return ctx.out

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        da = unbroadcast(g * ctx.b * np.power(ctx.a, ctx.b - 1), _shape(ctx.a)) if na else None
        db = None
        if nb:
            with np.errstate(divide="ignore", invalid="ignore"):
                db = unbroadcast(g * ctx.out * np.log(ctx.a), _shape(ctx.b))
        return da, db


class Exp(Function):
    def forward(ctx, a):
        ctx.out = np.exp(a)
        return ctx.out

    def backward(ctx, g):
        return g * ctx.out


class Log(Function):
    def forward(ctx, a):
        ctx.a = a
        return np.log(a)

    def backward(ctx, g):
        return g / ctx.a


class Tanh(Function):
    def forward(ctx, a):
        ctx.out = np.tanh(a)
        return ctx.out

    def backward(ctx, g):
        return g * (1 - ctx.out * ctx.out)


class Sqrt(Function):
    def forward(ctx, a):
        ctx.out = np.sqrt(a)
        return ctx.out

    def backward(ctx, g):
        return g / (2 * ctx.out)


class Sigmoid(Function):
    def forward(ctx, a):
        # exp of a non-positive number only, so large |a| cannot overflow.
        e = np.exp(-np.abs(a))
        ctx.out = np.where(a >= 0, 1 / (1 + e), e / (1 + e))
        return ctx.out

    def backward(ctx, g):
        return g * ctx.out * (1 - ctx.out)


class Abs(Function):
    def forward(ctx, a):
        ctx.sign = np.sign(a)
        return np.abs(a)

    def backward(ctx, g):
        return g * ctx.sign


class Clamp(Function):
    def forward(ctx, a, *, low, high):
        out = np.clip(a, low, high)
        ctx.inside = out == a  # the gradient passes where the value was not clipped
        return out

    def backward(ctx, g):
        return g * ctx.inside


class MaskedFill(Function):
    def forward(ctx, a, *, mask, value):
        ctx.mask = mask
        return np.where(mask, a.dtype.type(value), a)

    def backward(ctx, g):
        return np.where(ctx.mask, g.dtype.type(0), g)


class Where(Function):
    def forward(ctx, a, b, *, condition):
        ctx.condition, ctx.shapes = condition, (_shape(a), _shape(b))
        return np.where(condition, a, b)

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        zero = g.dtype.type(0)
        return (
            unbroadcast(np.where(ctx.condition, g, zero), ctx.shapes[0]) if na else None,
            unbroadcast(np.where(ctx.condition, zero, g), ctx.shapes[1]) if nb else None,
        )


class Cast(Function):
    def forward(ctx, a, *, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    def backward(ctx, g):
        return g.astype(ctx.dtype)


def _expand_reduced(g: np.ndarray, shape: tuple[int, ...], axis, keepdims: bool) -> np.ndarray:
    """A reduction's gradient with the reduced axes put back, broadcast to the input's shape."""
    if not keepdims and axis is not None:
        g = np.expand_dims(g, axis)
    elif not keepdims:
        g = g.reshape((1,) * len(shape))
    return np.broadcast_to(g, shape)


class Sum(Function):
    def forward(ctx, a, *, axis, keepdims):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return np.asarray(a.sum(axis=axis, keepdims=keepdims))

    def backward(ctx, g):
        return _expand_reduced(g, ctx.shape, ctx.axis, ctx.keepdims)


class Mean(Function):
    def forward(ctx, a, *, axis, keepdims):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        ctx.count = a.size if axis is None else math.prod(a.shape[i] for i in axis)
        return np.asarray(a.mean(axis=axis, keepdims=keepdims))

    def backward(ctx, g):
        return _expand_reduced(
            g / g.dtype.type(max(ctx.count, 1)), ctx.shape, ctx.axis, ctx.keepdims
        )


class Max(Function):
    def forward(ctx, a, *, axis, keepdims):
        out = np.asarray(a.max(axis=axis, keepdims=True))
        ctx.winners = a == out
        ctx.axis, ctx.keepdims = axis, keepdims
        return out if keepdims else (out.reshape(()) if axis is None else out.squeeze(axis))

    def backward(ctx, g):
        w = ctx.winners
        share = w / w.sum(axis=ctx.axis, keepdims=True)
        return _expand_reduced(g, w.shape, ctx.axis, ctx.keepdims) * share.astype(g.dtype)


class Reshape(Function):
    def forward(ctx, a, *, shape):
        ctx.shape = a.shape
        try:
            return reshape(a, shape)
        except ValueError:
            raise ValueError(
                f"shape: cannot reshape a tensor of shape {a.shape} into {shape}"
            ) from None

    def backward(ctx, g):
        return reshape(g, ctx.shape)


class Permute(Function):
    def forward(ctx, a, *, axes):
        ctx.inverse = tuple(np.argsort(axes))
        return a.transpose(axes)

    def backward(ctx, g):
        return g.transpose(ctx.inverse)


class BroadcastTo(Function):
    def forward(ctx, a, *, shape):
        ctx.shape = a.shape
        try:
            return np.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(
                f"shape: cannot expand a tensor of shape {a.shape} to {shape}"
            ) from None

    def backward(ctx, g):
        return unbroadcast(g, ctx.shape)


def _is_basic(index) -> bool:
    """True when indexing with ``index`` makes a view (ints, slices, None, Ellipsis only)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


class GetItem(Function):
    def forward(ctx, a, *, index):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return np.asarray(a[index])

    def backward(ctx, g):
        out = zeros(ctx.shape, ctx.dtype)
        if _is_basic(ctx.index):
            out[ctx.index] = g
        else:  # repeated positions in an integer index each add their gradient
            np.add.at(out, ctx.index, g)
        return out


class Cat(Function):
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        ctx.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        try:
            return np.concatenate(arrays, axis=axis)
        except ValueError as e:
            raise ValueError(f"tensors: {e}") from None

    def backward(ctx, g):
        parts = np.split(g, ctx.bounds, axis=ctx.axis)
        return tuple(p if need else None for p, need in zip(parts, ctx.needs_input_grad))


class Stack(Function):
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        try:
            return np.stack(arrays, axis=axis)
        except ValueError as e:
            raise ValueError(f"tensors: {e}") from None

    def backward(ctx, g):
        parts = np.moveaxis(g, ctx.axis, 0)
        return tuple(p if need else None for p, need in zip(parts, ctx.needs_input_grad))
