"""Atheris target: every attnlab.functional op, forward and backward, on inputs decoded from
the fuzz bytes.

Each input picks an arch, an op and its arguments: shapes (empty axes, odd sizes, sizes past
the SIMD widths, and broadcast giants whose element count overflows), memory layouts (C,
Fortran, negative strides, steps, zero strides through ``np.broadcast_to``, read-only), dtypes
(mostly float32 and float64, sometimes one no op takes), values (with NaN, inf and huge
entries) and options (in and out of range, wrong types). An op may reject its input with
TypeError, ValueError or MemoryError; any other exception, a sanitizer report, a crash or a
hang is a finding.

Run it with ``./scripts/run.sh fuzz [seconds]``, which builds the extension with ASan, UBSan
and libFuzzer's coverage hooks and preloads atheris's ASan-with-libFuzzer runtime; extra
arguments after the file are libFuzzer's.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import atheris
import numpy as np

from harness import attnlab, fuzz

F = attnlab.functional  # imported, with coverage hooks, by harness

ACCEPTED = (TypeError, ValueError, MemoryError)
FLOATS = (np.float32, np.float64)
ODD_DTYPES = (np.float16, np.int64, np.int32, np.bool_, np.complex64, np.uint8)
# Sizes of the SIMD tails and blocks (8, 16 lanes; 96-query and 128-key blocks), and giants
# (only ever broadcast) whose element counts overflow int64 or whose bytes no allocator gives,
# so that an op taking one either rejects it or fails to allocate, never runs for hours.
SIZES = (0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33)
LONG_SIZES = (97, 129, 130)
GIANTS = (2**40, 2**62)
NUMBERS = (0.0, -0.0, 0.5, 1.0, -1.0, 1e-12, 1e300, float("nan"), float("inf"), float("-inf"))
INTS = (0, 1, -1, 2, 3, 7, 8, -100, 2**31, 2**63 - 1, -(2**63))


class Input:
    """Typed draws from the fuzz bytes; every draw is defined when the bytes run out."""

    def __init__(self, data: bytes):
        self.fdp = atheris.FuzzedDataProvider(data)

    def int(self, lo: int, hi: int) -> int:
        return self.fdp.ConsumeIntInRange(lo, hi)

    def bool(self) -> bool:
        return self.fdp.ConsumeBool()

    def pick(self, options):
        return options[self.int(0, len(options) - 1)]

    def size(self) -> int:
        kind = self.int(0, 31)
        if kind == 0:
            return self.pick(GIANTS)
        if kind < 3:
            return self.pick(LONG_SIZES)
        return self.pick(SIZES)

    def shape(self, ndim_lo: int = 0, ndim_hi: int = 4) -> tuple[int, ...]:
        dims = [self.size() for _ in range(self.int(ndim_lo, ndim_hi))]
        # At most 2**16 elements, so that each input runs in milliseconds, unless a giant makes
        # the array a broadcast.
        while not any(n in GIANTS for n in dims) and math.prod(dims) > 2**16:
            dims[dims.index(max(dims))] //= 4
        return tuple(dims)

    def dtype(self, like: np.dtype | None = None) -> np.dtype:
        kind = self.int(0, 15)
        if like is not None and kind < 12:
            return like
        if kind == 15:
            return np.dtype(self.pick(ODD_DTYPES))
        return np.dtype(self.pick(FLOATS))

    def number(self) -> float:
        if self.int(0, 3) == 0:
            return self.pick(NUMBERS)
        return self.fdp.ConsumeFloatInRange(-4.0, 4.0)

    def option_int(self, usual: tuple[int, ...]) -> object:
        """Mostly one of ``usual``; sometimes an extreme int or a value of the wrong type."""
        kind = self.int(0, 15)
        if kind == 0:
            return self.pick(INTS)
        if kind == 1:
            return self.pick((None, 1.5, "3", True, np.int64(2), [1]))
        return self.pick(usual)

    def option_float(self, usual: tuple[float, ...]) -> object:
        kind = self.int(0, 15)
        if kind == 0:
            return self.pick(NUMBERS)
        if kind == 1:
            return self.pick((None, "0.1", True, np.float32(0.25), [0.5]))
        return self.pick(usual)

    def flag(self) -> object:
        return self.pick((True, False)) if self.int(0, 15) else self.pick((None, 1, "yes"))

    def array(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An array of ``shape`` in a layout the bytes choose; giants only as broadcasts."""
        layout = self.int(0, 6)
        if any(n in GIANTS for n in shape) or math.prod(shape) > 2**16:
            layout = 4
        if layout == 4:  # zero strides: every axis the bytes pick, and every giant, broadcast
            base = tuple(1 if n in GIANTS or self.bool() else n for n in shape)
            return np.broadcast_to(self.values(base, dtype), shape)
        if layout == 3:  # a step-2 view of an array twice as long on each axis
            return self.values(tuple(2 * n for n in shape), dtype)[
                (slice(None, None, 2),) * len(shape)
            ]
        x = self.values(shape, dtype)
        if layout == 1:
            return np.asfortranarray(x)
        if layout == 2 and x.ndim:  # negative strides
            return x[tuple(slice(None, None, -1) if self.bool() else slice(None) for _ in shape)]
        if layout == 5 and x.ndim > 1:  # a transposed view of the transposed array
            order = list(range(x.ndim))[::-1]
            return np.ascontiguousarray(x.transpose(order)).transpose(order)
        if layout == 6:
            x.flags.writeable = False
        return x

    def values(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        rng = np.random.default_rng(self.int(0, 2**16))
        x = rng.standard_normal(shape) * self.pick((1.0, 1.0, 30.0, 1e4))
        if x.size and self.int(0, 3) == 0:
            flat = x.reshape(-1)
            for _ in range(self.int(1, 3)):
                flat[self.int(0, flat.size - 1)] = self.pick(NUMBERS)
        if dtype == np.bool_:
            return x > 0
        if np.issubdtype(dtype, np.integer):
            return np.nan_to_num(x, nan=0, posinf=0, neginf=0).astype(dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            return x.astype(dtype)

    def like(self, x: np.ndarray) -> np.ndarray:
        """Mostly an array of x's shape and dtype (a gradient for x); sometimes neither."""
        if self.int(0, 7) == 0:
            return self.array(self.shape(), self.dtype())
        return self.array(x.shape, self.dtype(like=x.dtype))


def activations(d: Input) -> None:
    x = d.array(d.shape(), d.dtype())
    name = d.pick(("relu", "silu", "gelu"))
    kwargs = {"approximate": d.pick(("none", "tanh", "exact"))} if name == "gelu" else {}
    getattr(F, name)(x, **kwargs)
    getattr(F, name + "_backward")(d.like(x), x, **kwargs)


def softmaxes(d: Input) -> None:
    x = d.array(d.shape(), d.dtype())
    axis = d.option_int(tuple(range(-x.ndim - 1, x.ndim + 1)) or (0,))
    name = d.pick(("softmax", "log_softmax"))
    getattr(F, name)(x, axis=axis)
    getattr(F, name + "_backward")(d.like(x), x, axis=axis)


def norms(d: Input) -> None:
    x = d.array(d.shape(1, 4), d.dtype())
    tail = x.shape[x.ndim - d.int(1, min(2, x.ndim)) :]
    normalized = tail if d.int(0, 7) else d.pick((tail[-1], (), (3,), -1, "a", 2**62))
    weight = d.array(tail, d.dtype(like=x.dtype)) if d.bool() else None
    eps = d.option_float((1e-5, 1e-6))
    if d.bool():
        bias = d.array(tail, d.dtype(like=x.dtype)) if d.bool() else None
        F.layer_norm(x, normalized, weight, bias, eps)
        F.layer_norm_backward(d.like(x), x, normalized, weight, bias, eps)
    else:
        eps = eps if d.bool() else None
        F.rms_norm(x, normalized, weight, eps)
        F.rms_norm_backward(d.like(x), x, normalized, weight, eps)


def linears(d: Input) -> None:
    x = d.array(d.shape(1, 3), d.dtype())
    in_features = x.shape[-1] if x.ndim and d.int(0, 7) else d.size()
    weight = d.array((d.size(), in_features), d.dtype(like=x.dtype))
    bias = (
        d.array((weight.shape[0],) if d.int(0, 7) else d.shape(), d.dtype(like=x.dtype))
        if d.bool()
        else None
    )
    y = F.linear(x, weight, bias)
    F.linear_backward(d.like(y), x, weight, bias)


def cross_entropies(d: Input) -> None:
    logits = d.array(d.shape(1, 3), d.dtype())
    classes = logits.shape[1] if logits.ndim > 1 else logits.shape[0]
    target_shape = logits.shape[:1] + logits.shape[2:] if logits.ndim > 1 else ()
    if d.int(0, 7) == 0:
        target_shape = d.shape()
    ignore_index = d.option_int((-100, 0, 1))
    target = d.array(target_shape, np.dtype(np.int64) if d.int(0, 7) else d.dtype())
    if target.dtype == np.int64 and target.size and d.int(0, 3):
        target = np.ascontiguousarray(np.abs(target) % max(classes, 1))
    kwargs = dict(
        ignore_index=ignore_index,
        label_smoothing=d.option_float((0.0, 0.1)),
        reduction=d.pick(("mean", "sum", "none", "max")),
    )
    loss = F.cross_entropy(logits, target, **kwargs)
    grad = d.like(loss) if kwargs["reduction"] == "none" else d.option_float((1.0, 0.5))
    F.cross_entropy_backward(grad, logits, target, **kwargs)


def dropouts(d: Input) -> None:
    x = d.array(d.shape(), d.dtype())
    p = d.option_float((0.0, 0.1, 0.5, 0.9))
    seed = d.option_int((0, 1, 12345))
    training = d.flag()
    F.dropout(x, p, seed=seed, training=training)
    F.dropout_backward(d.like(x), p, seed=seed, training=training)


def embeddings(d: Input) -> None:
    weight = d.array((d.size(), d.size()), d.dtype())
    vocab = weight.shape[0]
    indices = d.array(d.shape(0, 3), np.dtype(np.int64) if d.int(0, 7) else d.dtype())
    if indices.dtype == np.int64 and indices.size and vocab and d.int(0, 3):
        indices = np.abs(indices) % vocab
    if d.bool():
        padding_idx = d.option_int((0, 1, -1))
        out = F.embedding(indices, weight, padding_idx=padding_idx)
        F.embedding_backward(d.like(out), indices, weight, padding_idx=padding_idx)
    else:
        out = F.relative_position_bias(weight, indices)
        F.relative_position_bias_backward(d.like(out), weight, indices)


def ropes(d: Input) -> None:
    x = d.array(d.shape(2, 4), d.dtype())
    positions = None
    if d.bool() and x.ndim >= 2:
        shape = (x.shape[-2],) if d.bool() else d.shape(0, 3)
        positions = d.array(shape, d.pick((np.dtype(np.int64), np.dtype(np.float64), d.dtype())))
    dim = x.shape[-1] if x.ndim else 0
    kwargs = dict(
        base=d.option_float((10000.0, 500.0)),
        interleaved=d.flag(),
        rotary_dim=d.option_int((None, dim, dim - dim % 2, 2, 0)),
    )
    F.rope(x, positions, **kwargs)
    F.rope_backward(d.like(x), positions, **kwargs)


def positional_tables(d: Input) -> None:
    which = d.int(0, 4)
    if which == 0:
        F.sinusoidal_positional_encoding(
            d.option_int(SIZES),
            d.option_int(SIZES),
            base=d.option_float((10000.0, 2.0)),
            offset=d.option_int((0, 5)),
            dtype=d.pick((np.float32, np.float64, np.int32, "float32")),
        )
    elif which == 1:
        F.alibi_slopes(d.option_int((1, 3, 8, 12)), dtype=d.pick((np.float32, np.float64, None)))
    elif which == 2:
        F.alibi_bias(
            d.option_int((1, 3, 8)),
            d.option_int(SIZES),
            d.option_int(SIZES),
            causal_alignment=d.pick(("top_left", "bottom_right", "left")),
        )
    elif which == 3:
        F.relative_position_bucket(
            d.option_int(SIZES),
            d.option_int(SIZES),
            num_buckets=d.option_int((32, 8, 1)),
            max_distance=d.option_int((128, 4, 1)),
            bidirectional=d.flag(),
        )
    else:
        F.sliding_window(d.option_int((1, 3, 4, 9)), causal=d.flag())


def attention(d: Input) -> None:
    batch, kv_heads, group = d.pick((1, 2)), d.pick((1, 2)), d.pick((1, 2, 3))
    heads = kv_heads * group if d.int(0, 7) else d.size()
    lq, lk = d.size(), d.size()
    dim, dim_v = d.pick(SIZES), d.pick(SIZES) if d.bool() else None
    dtype = d.dtype()
    lead = (batch, heads) if d.int(0, 7) else ()
    q = d.array(lead + (lq, dim), dtype)
    k = d.array(lead[:1] + (kv_heads,) * bool(lead) + (lk, dim), d.dtype(like=dtype))
    v = d.array(k.shape[:-1] + (dim if dim_v is None else dim_v,), d.dtype(like=dtype))
    mask = bias = slopes = None
    if d.int(0, 3) == 0:
        mask = d.array(
            d.pick(((lq, lk), (1, lk), (batch, 1, 1, lk), d.shape())),
            np.dtype(np.bool_) if d.int(0, 7) else d.dtype(),
        )
    if d.int(0, 3) == 0:
        bias = d.array(d.pick(((lq, lk), (heads, lq, lk), d.shape())), d.dtype(like=dtype))
    if d.int(0, 5) == 0:
        slopes = d.array((heads,) if d.int(0, 7) else d.shape(), d.dtype(like=dtype))
    window = None
    if d.int(0, 3) == 0:
        window = d.pick(((d.option_int((0, 1, 3)), d.option_int((0, 2, None))), 3, (None, None)))
    kwargs = dict(
        mask=mask,
        bias=bias,
        alibi_slopes=slopes,
        is_causal=d.flag(),
        causal_alignment=d.pick(("top_left", "bottom_right", "centre")),
        window=window,
        scale=d.option_float((None, 0.125, 1.0)),
        dropout_p=d.option_float((0.0, 0.0, 0.2)),
        seed=d.option_int((None, 7)),
    )
    if kwargs["dropout_p"] and kwargs["seed"] is None:
        kwargs["seed"] = 7
    saved = d.bool()
    result = F.scaled_dot_product_attention(
        q, k, v, return_stats=saved, return_weights=d.bool(), **kwargs
    )
    out = result[0] if isinstance(result, tuple) else result
    stats = next((r for r in result if isinstance(r, F.AttentionStats)), None) if saved else None
    F.scaled_dot_product_attention_backward(
        d.like(out), q, k, v, out=out if saved else None, stats=stats, **kwargs
    )


OPS: tuple[Callable[[Input], None], ...] = (
    activations,
    softmaxes,
    norms,
    linears,
    cross_entropies,
    dropouts,
    embeddings,
    ropes,
    positional_tables,
    attention,
)
ARCHS = tuple(attnlab.arch.available())


def test_one_input(data: bytes) -> None:
    d = Input(data)
    op = d.pick(OPS)
    with attnlab.arch.force(d.pick(ARCHS)), np.errstate(all="ignore"):
        try:
            op(d)
        except ACCEPTED:
            pass


if __name__ == "__main__":
    fuzz(test_one_input)
