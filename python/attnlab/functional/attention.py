"""Scaled dot-product attention over NumPy arrays: argument handling around the fused kernel."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from attnlab import _core
from attnlab._memory import contiguous, copy_into, empty, zeros
from attnlab._random import check_seed, next_seed
from attnlab._validation import (
    bool_array,
    broadcast,
    expect_ndim,
    expect_size,
    flag,
    float_array,
    index,
    real_number,
    sum_to_shape,
)
from attnlab.autograd.function import Function, takes_tensors
from attnlab.tensor import Tensor

_ALIGNMENTS = ("top_left", "bottom_right")
_LAYOUT = "(L, D), (B, L, D) or (B, H, L, D)"


class AttentionStats(NamedTuple):
    """The softmax statistics of a forward, which its backward needs besides the output.

    The kernels work in base 2 (their softmax exp is ``2**x``): the weights of query row i are
    ``2**(s_ij * log2(e) - row_max_base2[i]) * row_inv[i]``, s being the final (scaled,
    biased, masked) scores. Kept as a pair rather than a log-sum-exp, which cannot hold the
    sum next to a huge max (a bias of ``finfo.min``). :attr:`logsumexp` gives the natural
    log-sum-exp.
    """

    # (..., Lq) each; for a row that sees no key, -inf and 0.
    # the shift the forward used: the row's largest score times log2(e), or up to 8 below it
    row_max_base2: np.ndarray
    row_inv: np.ndarray  # 1 / sum_j 2**(s_ij * log2(e) - row_max_base2)

    @property
    def logsumexp(self) -> np.ndarray:
        """log sum_j exp(s_ij) per row (..., Lq); -inf for a row that sees no key."""
        with np.errstate(divide="ignore", invalid="ignore"):
            lse2 = np.where(self.row_inv != 0, self.row_max_base2 - np.log2(self.row_inv), -np.inf)
        return lse2 * np.log(2.0)


@dataclass
class _Call:
    """One call's arguments, checked and brought to the kernel's (B, H, L, D) layout."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    mask: np.ndarray | None
    bias: np.ndarray | None
    alibi_slopes: np.ndarray | None
    lead: tuple[int, ...]  # the caller's leading dims of q
    score_shape: tuple[int, ...]  # the caller's (..., Lq, Lk)
    options: _core.AttentionOptions


def _as_4d(x: np.ndarray) -> np.ndarray:
    """(L, D) and (B, L, D) as (1, 1, L, D) and (B, 1, L, D); views, never copies."""
    return x.reshape((1,) * (4 - x.ndim) + x.shape)


def _kernel_operand(x: np.ndarray) -> np.ndarray:
    """A broadcast view the kernel can stride through: the last axis must be contiguous."""
    if x.shape[-1] > 1 and x.strides[-1] != x.itemsize:
        return contiguous(x)
    return x


def _window(window: object, lq: int, lk: int) -> tuple[int, int]:
    """(left, right) as ints, with unbounded sides as a bound past every key."""
    unbounded = lq + lk + 1
    if window is None:
        return unbounded, unbounded
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise TypeError(f"window: expected a (left, right) pair of ints or None, got {window!r}")
    sides = []
    for name, side in zip(("left", "right"), window):
        if side is None:
            sides.append(unbounded)
            continue
        side = index(side, f"window[{name}]")
        if side < 0:
            raise ValueError(f"window: {name} must be >= 0 or None, got {side}")
        sides.append(min(side, unbounded))
    return sides[0], sides[1]


def _prepare(
    q,
    k,
    v,
    mask,
    bias,
    alibi_slopes,
    is_causal,
    causal_alignment,
    window,
    scale,
    dropout_p,
    seed,
    *,
    need_seed: str,
) -> _Call:
    q = float_array(q, "q")
    k = float_array(k, "k", like=q)
    v = float_array(v, "v", like=q)
    expect_ndim(q, "q", range(2, 5), _LAYOUT)
    if k.ndim != q.ndim:
        raise ValueError(f"k: expected {q.ndim} dimensions like q {q.shape}, got shape {k.shape}")
    if v.ndim != q.ndim:
        raise ValueError(f"v: expected {q.ndim} dimensions like q {q.shape}, got shape {v.shape}")
    expect_size(k, "k", -1, q.shape[-1], "D, must match q")
    if q.ndim >= 3:
        expect_size(k, "k", 0, q.shape[0], "B, must match q")
        expect_size(v, "v", 0, q.shape[0], "B, must match q")
    if q.ndim == 4:
        expect_size(v, "v", 1, k.shape[1], "H, must match k")
        hq, hkv = q.shape[1], k.shape[1]
        if hkv == 0 and hq != 0 or hkv != 0 and hq % hkv != 0:
            raise ValueError(
                f"k: axis 1 (H) has size {hkv}, which must divide q's {hq} heads "
                "(grouped-query attention)"
            )
    expect_size(v, "v", -2, k.shape[-2], "Lk, must match k")

    lq, lk = q.shape[-2], k.shape[-2]
    lead = q.shape[:-2]
    score_shape = lead + (lq, lk)
    q4, k4, v4 = (contiguous(_as_4d(x)) for x in (q, k, v))
    kernel_scores = q4.shape[:2] + (lq, lk)

    if mask is not None:
        mask = bool_array(
            mask, "mask", hint=" (True = may attend; pass additive float masks as bias=)"
        )
        mask = _kernel_operand(broadcast(mask, "mask", score_shape).reshape(kernel_scores))
    if bias is not None:
        bias = float_array(bias, "bias", like=q)
        bias = _kernel_operand(broadcast(bias, "bias", score_shape).reshape(kernel_scores))
    if alibi_slopes is not None:
        alibi_slopes = float_array(alibi_slopes, "alibi_slopes", like=q)
        heads = q4.shape[1]
        if alibi_slopes.shape != (heads,):
            raise ValueError(
                f"alibi_slopes: expected shape ({heads},), one slope per head of q, "
                f"got {alibi_slopes.shape}"
            )
        alibi_slopes = contiguous(alibi_slopes)

    is_causal = flag(is_causal, "is_causal")
    if causal_alignment not in _ALIGNMENTS:
        raise ValueError(
            f"causal_alignment: expected one of {_ALIGNMENTS}, got {causal_alignment!r}"
        )
    left, right = _window(window, lq, lk)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] > 0 else 1.0
    scale = real_number(scale, "scale")
    dropout_p = real_number(dropout_p, "dropout_p")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p: expected 0 <= dropout_p < 1, got {dropout_p}")
    if seed is None:
        if dropout_p > 0 and need_seed:
            raise ValueError(f"seed: {need_seed}")
        seed = next_seed() if dropout_p > 0 else 0
    seed = check_seed(seed)
    options = _core.AttentionOptions(
        scale=scale,
        causal=is_causal,
        bottom_right=causal_alignment == "bottom_right",
        window_left=left,
        window_right=right,
        dropout_p=dropout_p,
        seed=seed,
    )
    return _Call(q4, k4, v4, mask, bias, alibi_slopes, lead, score_shape, options)


def scaled_dot_product_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    *,
    alibi_slopes: np.ndarray | None = None,
    is_causal: bool = False,
    causal_alignment: str = "top_left",
    window: tuple[int | None, int | None] | None = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
    seed: int | None = None,
    return_weights: bool = False,
    return_stats: bool = False,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """softmax(scale * q @ k^T + bias, over allowed keys) @ v, fused: no Lq x Lk matrix is built
    unless ``return_weights`` asks for the weights.

    Args:
        q: queries (..., Lq, D); leading dims are (B, H), (B,) or none. float32 or float64.
        k: keys (..., Lk, D) with q's dtype; may have fewer heads than q when they divide
            q's (grouped-query attention).
        v: values (..., Lk, Dv).
        mask: bool, broadcastable to (..., Lq, Lk); True = may attend.
        bias: float, broadcastable to (..., Lq, Lk), added to the scaled scores (ALiBi, T5).
            A finite bias counts at most ``finfo.max * ln 2`` in size (the kernels work in
            base 2), so additive masks of ``finfo.min`` behave as in PyTorch.
        alibi_slopes: (H,) slopes, e.g. :func:`alibi_slopes`; the kernel adds ALiBi's
            -slope_h * |j - a_i| (a_i = i's aligned position) inside its tile loop, equal to
            ``bias=alibi_bias(...)`` without reading an Lq x Lk matrix.
        is_causal: query i sees only keys up to its aligned position.
        causal_alignment: "top_left" (PyTorch: key j <= i) or "bottom_right" (FlashAttention,
            for a cache: j <= i + Lk - Lq). Also aligns ``window``.
        window: (left, right): query i sees keys a - left <= j <= a + right, a = i's aligned
            position; None on a side = unbounded.
        scale: multiplies q @ k^T; default 1 / sqrt(D).
        dropout_p: probability of dropping each weight (training); kept ones scale by 1/(1-p).
        seed: dropout's seed; the same seed gives the same mask, forward and backward.
        return_weights: also return the per-head weights (..., Lq, Lk), normalized and before
            dropout.
        return_stats: also return the :class:`AttentionStats` that
            :func:`scaled_dot_product_attention_backward` takes with ``out=`` to skip running
            the forward again (what an autograd layer saves).

    ``mask``, ``bias``, ``is_causal`` and ``window`` combine: a key is seen only if all allow it.
    A query that sees no key gets zeros (output, weights and gradients), never NaN.

    Returns:
        out (..., Lq, Dv); or a tuple of out, then weights with ``return_weights=True``, then
        stats with ``return_stats=True``.
    """
    call = (alibi_slopes, is_causal, causal_alignment, window, scale, dropout_p, seed)
    return_weights = flag(return_weights, "return_weights")
    return_stats = flag(return_stats, "return_stats")
    if takes_tensors(q, k, v, mask, bias):
        extras: dict = {}
        out = _Attention.apply(
            q, k, v, mask, bias, call=call, return_weights=return_weights, extras=extras
        )
        results = [out]
        if return_weights:
            results.append(Tensor(extras["weights"]))
        if return_stats:
            results.append(extras["stats"])
        return results[0] if len(results) == 1 else tuple(results)
    c = _prepare(q, k, v, mask, bias, *call, need_seed="")
    out, weights, stats = _forward(c, return_weights, return_stats)
    results = [out.reshape(c.lead + out.shape[2:])]
    if weights is not None:
        results.append(weights.reshape(c.score_shape))
    if return_stats:
        results.append(AttentionStats(*(x.reshape(c.lead + x.shape[2:]) for x in stats)))
    return results[0] if len(results) == 1 else tuple(results)


def _forward(c: _Call, return_weights: bool, return_stats: bool):
    """The kernel's (B, H, Lq, Dv) output, (B, H, Lq, Lk) weights or None, and stats or None."""
    b, h, lq, _ = c.q.shape
    lk, dv = c.k.shape[2], c.v.shape[3]
    out = _core.cached_empty((b, h, lq, dv), c.q.dtype)
    weights = None
    if return_weights:
        # From the core's cache: a notebook asking for weights step after step reuses mapped
        # pages; fresh ones cost the kernel's zero-fill, half a (4, 8, 1024, 64) forward.
        weights = _core.cached_empty((b, h, lq, lk), c.q.dtype)
    stats = None
    if return_stats:
        stats = AttentionStats(empty((b, h, lq), c.q.dtype), empty((b, h, lq), c.q.dtype))
    _core.attention_forward(
        c.q,
        c.k,
        c.v,
        c.mask,
        c.bias,
        c.alibi_slopes,
        c.options,
        out=out,
        weights=weights,
        **(stats._asdict() if stats else {}),
    )
    return out, weights, stats


def _backward(c: _Call, g4: np.ndarray, saved: dict, want_dscores: bool):
    """The kernel's dq, dk, dv in (B, H, L, D) layout and, when asked, the unreduced dscores."""
    # From the core's cache, like the weights: a training loop then reuses mapped pages (fresh
    # ones cost the kernel's zero-fill, 3% of a (4, 8, 1024, 64) backward). The kernel writes
    # every gradient.
    dq, dk, dv = (_core.cached_empty(x.shape, x.dtype) for x in (c.q, c.k, c.v))
    dscores = zeros(c.q.shape[:3] + (c.k.shape[2],), c.q.dtype) if want_dscores else None
    _core.attention_backward(
        g4,
        c.q,
        c.k,
        c.v,
        c.mask,
        c.bias,
        c.alibi_slopes,
        c.options,
        dq=dq,
        dk=dk,
        dv=dv,
        dscores=dscores,
        **saved,
    )
    return dq, dk, dv, dscores


class _Attention(Function):
    """Saves the forward's checked call, output and softmax statistics, so that the backward
    neither validates nor runs the forward again."""

    fresh_gradients = True

    def forward(ctx, q, k, v, mask, bias, *, call, return_weights, extras):
        ctx.shapes = q.shape, k.shape, v.shape
        return ctx._attend(q, k, v, mask, bias, call, return_weights, extras)

    def backward(ctx, g):
        dq, dk, dv, dbias = ctx._gradients(g, ctx.needs_input_grad[4])
        q_shape, k_shape, v_shape = ctx.shapes
        return dq.reshape(q_shape), dk.reshape(k_shape), dv.reshape(v_shape), None, dbias

    def _attend(ctx, q, k, v, mask, bias, call, return_weights, extras):
        c = _prepare(q, k, v, mask, bias, *call, need_seed="")
        out, weights, stats = _forward(c, return_weights, True)
        ctx.call, ctx.out, ctx.stats = c, out, stats
        ctx.bias_shape = None if bias is None else np.shape(bias)
        lq, dv = out.shape[2:]
        if weights is not None:
            extras["weights"] = weights.reshape(c.score_shape)
        extras["stats"] = AttentionStats(*(x.reshape(c.lead + (lq,)) for x in stats))
        return out.reshape(c.lead + (lq, dv))

    def _gradients(ctx, g, need_bias: bool):
        """dq, dk, dv in the kernel's (B, H, L, D) layout, and dbias (None unless asked)."""
        c = ctx.call
        saved = {"out": ctx.out, **ctx.stats._asdict()}
        dq, dk, dv, dscores = _backward(c, contiguous(_as_4d(g)), saved, need_bias)
        dbias = sum_to_shape(dscores.reshape(c.score_shape), ctx.bias_shape) if need_bias else None
        return dq, dk, dv, dbias


def packed_heads(qkv: np.ndarray, heads: int, kv_heads: int) -> tuple[np.ndarray, ...]:
    """q (B, H, L, D), k and v (B, Hkv, L, D): views of the column blocks of one packed
    projection qkv (B, L, (H + 2 Hkv) D), as a multi-head layer's in_proj gives them."""
    b, length, width = qkv.shape
    d = width // (heads + 2 * kv_heads)
    c, kv = heads * d, kv_heads * d
    q = qkv[..., :c].reshape(b, length, heads, d)
    k = qkv[..., c : c + kv].reshape(b, length, kv_heads, d)
    v = qkv[..., c + kv :].reshape(b, length, kv_heads, d)
    return tuple(x.transpose(0, 2, 1, 3) for x in (q, k, v))


class _PackedAttention(_Attention):
    """Self-attention over one packed projection qkv (B, L, (H + 2 Hkv) D): the backward writes
    dq, dk and dv into one gradient of qkv's shape, where slicing q, k and v off qkv would
    give three zero-filled ones for the engine to sum."""

    def forward(ctx, qkv, mask, bias, *, heads, kv_heads, call, return_weights, extras):
        ctx.packed = qkv.shape, heads, kv_heads
        out = ctx._attend(
            *packed_heads(qkv, heads, kv_heads), mask, bias, call, return_weights, extras
        )
        extras["v"] = ctx.call.v
        return out

    def backward(ctx, g):
        shape, heads, kv_heads = ctx.packed
        dq, dk, dv, dbias = ctx._gradients(g, ctx.needs_input_grad[2])
        dqkv = empty(shape, dq.dtype)
        for block, grad in zip(packed_heads(dqkv, heads, kv_heads), (dq, dk, dv)):
            copy_into(block, grad)
        return dqkv, None, dbias


def packed_self_attention(
    qkv: Tensor,
    heads: int,
    kv_heads: int,
    mask=None,
    bias=None,
    *,
    alibi_slopes=None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    return_weights: bool = False,
) -> tuple[Tensor, Tensor | None, np.ndarray]:
    """:func:`scaled_dot_product_attention` of the q, k, v that :func:`packed_heads` cuts from
    ``qkv`` (B, L, (H + 2 Hkv) D), as one node of the graph.

    Returns:
        out (B, H, L, D), the weights (B, H, L, L) or None, and v (B, Hkv, L, D) as the
        kernel read it.
    """
    extras: dict = {}
    call = (alibi_slopes, is_causal, "top_left", None, None, dropout_p, None)
    out = _PackedAttention.apply(
        qkv,
        mask,
        bias,
        heads=heads,
        kv_heads=kv_heads,
        call=call,
        return_weights=return_weights,
        extras=extras,
    )
    weights = Tensor(extras["weights"]) if return_weights else None
    return out, weights, extras["v"]


def scaled_dot_product_attention_backward(
    grad_out: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    *,
    alibi_slopes: np.ndarray | None = None,
    is_causal: bool = False,
    causal_alignment: str = "top_left",
    window: tuple[int | None, int | None] | None = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
    seed: int | None = None,
    out: np.ndarray | None = None,
    stats: AttentionStats | None = None,
) -> tuple[np.ndarray, ...]:
    """Gradients of :func:`scaled_dot_product_attention` with the same arguments.

    ``grad_out`` is the gradient of the loss with respect to the output (..., Lq, Dv). With
    dropout, pass the forward's ``seed``: the backward regenerates the same mask.

    ``out`` and ``stats``, the forward's output and ``return_stats=True`` statistics for these
    same arguments, spare the backward a second forward (7 passes over the scores instead of
    9); the gradients are bitwise the same. Without them it recomputes both.

    Returns:
        (dq, dk, dv), plus dbias (bias's own shape, summed over broadcast axes) when ``bias``
        is given.
    """
    c = _prepare(
        q,
        k,
        v,
        mask,
        bias,
        alibi_slopes,
        is_causal,
        causal_alignment,
        window,
        scale,
        dropout_p,
        seed,
        need_seed="pass the forward's seed to the backward when dropout_p > 0",
    )
    grad_out = float_array(grad_out, "grad_out", like=c.q)
    out_shape = c.lead + (c.q.shape[2], c.v.shape[3])
    if grad_out.shape != out_shape:
        raise ValueError(f"grad_out: expected the output's shape {out_shape}, got {grad_out.shape}")
    g4 = contiguous(_as_4d(grad_out))
    saved = _saved_forward(out, stats, c, out_shape)
    dq, dk, dv, dscores = _backward(c, g4, saved, bias is not None)
    grads = (dq.reshape(q.shape), dk.reshape(k.shape), dv.reshape(v.shape))
    if bias is None:
        return grads
    return grads + (sum_to_shape(dscores.reshape(c.score_shape), np.shape(bias)),)


def _saved_forward(out, stats, c: _Call, out_shape: tuple[int, ...]) -> dict:
    """The backward's ``out`` and ``stats`` as kernel arguments, checked against the call."""
    if (out is None) != (stats is None):
        raise ValueError("out, stats: pass both (the forward's output and stats) or neither")
    if out is None:
        return {}
    if not isinstance(stats, AttentionStats):
        raise TypeError(
            f"stats: expected the AttentionStats of the forward (return_stats=True), "
            f"got {type(stats).__name__}"
        )
    out = float_array(out, "out", like=c.q)
    if out.shape != out_shape:
        raise ValueError(f"out: expected the output's shape {out_shape}, got {out.shape}")
    b, h, lq = c.q.shape[:3]
    saved = {"out": contiguous(_as_4d(out))}
    for name, x in zip(AttentionStats._fields, stats):
        x = float_array(x, f"stats.{name}", like=c.q)
        if x.shape != c.lead + (lq,):
            raise ValueError(f"stats.{name}: expected shape {c.lead + (lq,)}, got {x.shape}")
        saved[name] = contiguous(x.reshape(b, h, lq))
    return saved
