"""Positional encodings: sinusoidal, rotary (RoPE), ALiBi, T5 relative buckets, sliding windows.

The generators that depend only on sizes (sinusoidal tables, slopes, buckets) are NumPy in
float64; RoPE, which transforms activations, runs in the C++ core.
"""

from __future__ import annotations

import math

import numpy as np

from attnlab import _core
from attnlab._memory import empty_like
from attnlab._validation import (
    as_rows,
    at_least,
    broadcast,
    expect_ndim,
    flag,
    float_array,
    index,
    positive,
)
from attnlab.autograd.function import Function
from attnlab.tensor import Tensor

_ALIGNMENTS = ("top_left", "bottom_right")


def _float_dtype(dtype: object) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
    return dtype


def sinusoidal_positional_encoding(
    length: int, dim: int, *, base: float = 10000.0, offset: int = 0, dtype: object = np.float32
) -> np.ndarray:
    """Vaswani et al.'s table (length, dim): column 2i is sin(p / base^(2i/dim)), column 2i+1
    the cos of the same angle, for positions p = offset, ..., offset + length - 1.

    Angles are computed in float64 and rounded once; an odd ``dim`` ends with a sin column.
    """
    length = at_least(length, "length", 0)
    dim = at_least(dim, "dim", 0)
    base = positive(base, "base")
    offset = at_least(offset, "offset", 0)
    dtype = _float_dtype(dtype)
    positions = np.arange(offset, offset + length, dtype=np.float64)[:, None]
    inv_freq = base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)
    angles = positions * inv_freq  # (L, ceil(dim / 2))
    table = np.empty((length, dim), dtype=np.float64)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : dim // 2])
    return table.astype(dtype)


def _rope_call(x, positions, base, rotary_dim, interleaved, inverse, name):
    x = float_array(x, name)
    expect_ndim(x, name, range(2, 33), "(..., L, D)")
    length, dim = x.shape[-2], x.shape[-1]
    rotary_dim = dim if rotary_dim is None else index(rotary_dim, "rotary_dim")
    if rotary_dim % 2 or not 0 <= rotary_dim <= dim:
        raise ValueError(f"rotary_dim: expected an even int in [0, {dim}] (D), got {rotary_dim}")
    base = positive(base, "base")
    interleaved = flag(interleaved, "interleaved")
    if positions is None:
        pos = np.arange(length, dtype=np.float64)
    else:
        if (
            not isinstance(positions, np.ndarray)
            or positions.dtype == np.bool_
            or not (
                np.issubdtype(positions.dtype, np.integer)
                or np.issubdtype(positions.dtype, np.floating)
            )
        ):
            raise TypeError(
                f"positions: expected a NumPy array of ints or floats, got "
                f"{getattr(positions, 'dtype', type(positions).__name__)}"
            )
        if positions.shape == (length,):
            pos = positions.astype(np.float64)
        else:
            pos = broadcast(positions, "positions", x.shape[:-1]).astype(np.float64).reshape(-1)
    rows = as_rows(x)
    out = empty_like(rows)
    _core.rope_forward(
        rows,
        np.ascontiguousarray(pos),
        rotary_dim=rotary_dim,
        interleaved=interleaved,
        base=base,
        inverse=inverse,
        out=out,
    )
    return out.reshape(x.shape)


class _Rope(Function):
    def forward(ctx, x, *, positions, options):
        ctx.positions, ctx.options = positions, options
        return _rope_call(x, positions, *options, False, "x")

    def backward(ctx, g):
        return _rope_call(g, ctx.positions, *ctx.options, True, "grad_out")


def rope(
    x: np.ndarray,
    positions: np.ndarray | None = None,
    *,
    base: float = 10000.0,
    rotary_dim: int | None = None,
    interleaved: bool = False,
) -> np.ndarray:
    """Rotary position embedding (RoFormer) of x (..., L, D).

    Pair k of the first ``rotary_dim`` features (default D, even) of the row at position p is
    turned by p * base^(-2k / rotary_dim); later features pass through. Pairs are (k, k +
    rotary_dim/2) ("half-split", as GPT-NeoX and Llama in Hugging Face), or (2k, 2k + 1) with
    ``interleaved=True`` (as RoFormer and GPT-J). ``positions``: ints or floats of shape (L,) or
    broadcastable to x.shape[:-1]; default 0, ..., L - 1. Angles are computed in float64.
    Then q_m . k_n depends only on m - n.
    """
    if isinstance(x, Tensor):
        return _Rope.apply(x, positions=positions, options=(base, rotary_dim, interleaved))
    return _rope_call(x, positions, base, rotary_dim, interleaved, False, "x")


def rope_backward(
    grad_out: np.ndarray,
    positions: np.ndarray | None = None,
    *,
    base: float = 10000.0,
    rotary_dim: int | None = None,
    interleaved: bool = False,
) -> np.ndarray:
    """Gradient of :func:`rope` with respect to x: grad_out rotated back by the same angles."""
    return _rope_call(grad_out, positions, base, rotary_dim, interleaved, True, "grad_out")


def _power_of_two_slopes(numerators: np.ndarray, n: int) -> np.ndarray:
    # Press et al.: the geometric sequence 2^(-8 k / n), each term as one power of two so that
    # no rounding accumulates.
    return np.power(2.0, -8.0 * numerators / n)


def alibi_slopes(num_heads: int, *, dtype: object = np.float64) -> np.ndarray:
    """ALiBi's per-head slopes (Press et al. 2022): 2^(-8/n), 2^(-16/n), ..., 2^(-8) for a power
    of two n; otherwise those of the largest power of two below n, followed by every other slope
    of twice that power, as in the paper's reference implementation."""
    num_heads = at_least(num_heads, "num_heads", 0)
    dtype = _float_dtype(dtype)
    if num_heads == 0:
        return np.zeros(0, dtype=dtype)
    low = 2 ** int(math.floor(math.log2(num_heads)))
    try:  # in NumPy, so that a huge num_heads fails to allocate instead of looping for hours
        out = np.empty(num_heads, dtype=dtype)
    except (ValueError, MemoryError) as e:
        raise type(e)(f"num_heads: {num_heads} slopes do not fit in memory ({e})") from None
    out[:low] = _power_of_two_slopes(np.arange(1, low + 1, dtype=np.float64), low)
    out[low:] = _power_of_two_slopes(
        np.arange(1, 2 * (num_heads - low), 2, dtype=np.float64), 2 * low
    )
    return out


def alibi_bias(
    num_heads: int,
    lq: int,
    lk: int,
    *,
    causal_alignment: str = "top_left",
    dtype: object = np.float32,
) -> np.ndarray:
    """ALiBi's additive bias (num_heads, Lq, Lk): -slope_h * |j - a_i|, a_i = i, or
    i + Lk - Lq with ``causal_alignment="bottom_right"`` (a cache of earlier keys).

    With ``is_causal=True`` only j <= a_i is seen and this is the paper's bias; without it, it
    is the symmetric form that bidirectional ALiBi encoders use. Pass it as ``bias=``.
    """
    lq = at_least(lq, "lq", 0)
    lk = at_least(lk, "lk", 0)
    if causal_alignment not in _ALIGNMENTS:
        raise ValueError(
            f"causal_alignment: expected one of {_ALIGNMENTS}, got {causal_alignment!r}"
        )
    shift = lk - lq if causal_alignment == "bottom_right" else 0
    distance = np.abs(np.arange(lk)[None, :] - (np.arange(lq)[:, None] + shift))
    slopes = alibi_slopes(num_heads)
    return (-slopes[:, None, None] * distance[None]).astype(_float_dtype(dtype))


def relative_position_bucket(
    lq: int, lk: int, *, num_buckets: int = 32, max_distance: int = 128, bidirectional: bool = True
) -> np.ndarray:
    """T5's relative-position buckets (Lq, Lk) of key j relative to query i, int64.

    Bidirectional: half the buckets for keys after the query. Distances below half the
    (remaining) buckets get a bucket each; larger ones share log-spaced buckets up to
    ``max_distance``, beyond which they share the last. Causal (``bidirectional=False``): keys
    after the query all fall in bucket 0. The log is taken in float32 as in T5, so the bucket
    boundaries, and hence pretrained bias tables, match.
    """
    lq = at_least(lq, "lq", 0)
    lk = at_least(lk, "lk", 0)
    num_buckets = at_least(num_buckets, "num_buckets", 1)
    max_distance = at_least(max_distance, "max_distance", 1)
    bidirectional = flag(bidirectional, "bidirectional")
    relative = np.arange(lk, dtype=np.int64)[None, :] - np.arange(lq, dtype=np.int64)[:, None]
    buckets = np.zeros((lq, lk), dtype=np.int64)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative > 0) * num_buckets
        distance = np.abs(relative)
    else:
        distance = np.maximum(-relative, 0)
    max_exact = num_buckets // 2
    if max_exact == 0:
        raise ValueError(
            "num_buckets: too few buckets for T5's rule (need >= 2, or >= 4 when bidirectional)"
        )
    if max_distance <= max_exact:
        raise ValueError(
            f"max_distance: expected > {max_exact} (the exact buckets), got {max_distance}"
        )
    scaled = np.maximum(distance, max_exact).astype(np.float32) / np.float32(max_exact)
    log_ratio = np.float32(math.log(max_distance / max_exact))
    large = max_exact + (np.log(scaled) / log_ratio * np.float32(num_buckets - max_exact)).astype(
        np.int64
    )
    large = np.minimum(large, num_buckets - 1)
    return buckets + np.where(distance < max_exact, distance, large)


def sliding_window(size: int, *, causal: bool = True) -> tuple[int, int]:
    """The ``window=(left, right)`` argument of scaled_dot_product_attention for a local window
    of ``size`` keys per query (itself included): (size - 1, 0) when causal, else
    ((size - 1) // 2, (size - 1) // 2) centred on the query (``size`` must then be odd)."""
    size = at_least(size, "size", 1)
    if flag(causal, "causal"):
        return size - 1, 0
    if size % 2 == 0:
        raise ValueError(f"size: a centred window needs an odd size, got {size}")
    return (size - 1) // 2, (size - 1) // 2
