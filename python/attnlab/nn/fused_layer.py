"""A transformer layer as one call into the core each way (cpp/bindings/encoder_layer.cpp ->
cpp/src/layers/encoder_layer.cpp): self-attention and a feed-forward block with their
residual connections and LayerNorms, post-norm or pre-norm, over one workspace, instead of
eight kernel calls forward and eight backward and the graph nodes between them.

:func:`fused_forward` runs it for a layer's parts (dropout included) when every part is one
the core computes (ReLU or GELU, LayerNorms over the features, a MultiheadAttention
without extra keys, a head mask, or T5 positions, and a record that keeps no outputs; each
part of its own class exactly, its forward not replaced): without a graph to record (or with
a key/value cache) as a plain call, else as one node of the graph whose backward is one call
too; otherwise it returns None and the layer runs its Python composition, which stays the
reference: the fused layer calls the same kernels in the same order, so the two agree bitwise,
forward and backward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab import _core
from attnlab._memory import contiguous, empty
from attnlab._random import next_seed
from attnlab._validation import broadcast
from attnlab.autograd.function import Function
from attnlab.autograd.grad_mode import is_grad_enabled
from attnlab.functional.attention import _kernel_operand
from attnlab.nn.activation import GELU, ReLU
from attnlab.nn.attention import MultiheadAttention, attention_mask
from attnlab.nn.dropout import Dropout
from attnlab.nn.kv_cache import KVCache
from attnlab.nn.linear import Linear
from attnlab.nn.module import Module
from attnlab.nn.normalization import LayerNorm
from attnlab.nn.positional import ALiBi, RotaryEmbedding
from attnlab.tensor import Tensor, cat


def fused_forward(
    x: Any,
    attn: MultiheadAttention,
    norm1: LayerNorm,
    feed_forward: tuple[Linear, Module, Linear] | None,
    norm2: LayerNorm | None,
    dropouts: tuple[Dropout | None, Dropout | None, Dropout | None],
    *,
    norm_first: bool,
    mask: Any = None,
    key_mask: Any = None,
    is_causal: bool = False,
    cache: KVCache | None = None,
) -> Tensor | None:
    """The layer's output Tensor (B, L, C) of x (a node of the graph when x or a parameter
    requires grad and grad is enabled), or None when this layer or call needs the Python
    composition.

    ``feed_forward``: (linear1, activation, linear2), or None for an attention-only layer.
    ``dropouts``: the layer's Dropout modules, torch's dropout1 (the attention block's output),
    dropout (the activation's) and dropout2 (the feed-forward block's), each or None; the
    attention's own dropout is attn's. Their seeds are drawn in the composition's order.
    ``cache``: a KVCache of earlier tokens' keys and values (then causal aligns bottom-right),
    to which this call's are added; inference only (with a graph to record, the composition).
    """
    data = x.data if isinstance(x, Tensor) else x
    dtype = attn.out_proj.weight.dtype
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != dtype
        or data.ndim != 3
        or data.shape[2] != attn.embed_dim
    ):
        return None  # the composition raises the error
    modules = [attn, norm1, norm2] + (list(feed_forward) if feed_forward else [])
    graph = _needs_graph([x], modules)
    if graph and cache is not None:
        return None
    options = _options(attn, norm1, feed_forward, norm2, norm_first, is_causal)
    if options is None or not _records_only_weights(attn):
        return None

    b, length = data.shape[:2]
    past = 0 if cache is None else len(cache)
    lk = past + length
    h, hkv, d = attn.num_heads, attn.num_kv_heads, attn.head_dim
    mask = _kernel_mask(attention_mask(mask, key_mask, (b, h, length, lk)), (b, h, length, lk))
    keys = values = past_keys = past_values = None
    if cache is not None:
        if cache.keys is not None:
            past_keys, past_values = cache.keys, cache.values
            if (
                past_keys.shape[:2] != (b, hkv)
                or past_keys.shape[3] != d
                or past_keys.dtype != dtype
            ):
                return None  # KVCache.extend raises the error
        keys, values = (empty((b, hkv, lk, d), dtype) for _ in range(2))
    _draw_dropout_seeds(options, _dropout_sites(attn, dropouts))
    takers = attn._recording()  # counts this call
    weights = _core.cached_empty((b, h, length, lk), dtype) if takers else None
    params = _parameters(attn, norm1, feed_forward, norm2)
    alibi = attn.positions.slopes if isinstance(attn.positions, ALiBi) else None
    attention = dict(options=options, heads=h, kv_heads=hkv, mask=mask, alibi_slopes=alibi)
    if graph:
        out = _EncoderLayer.apply(
            x, *params.values(), names=tuple(params), attention=attention, weights=weights
        )
    else:
        out = Tensor(empty(data.shape, dtype))
        _core.encoder_layer_forward(
            contiguous(data),
            **{k: _array(p) for k, p in params.items()},
            **attention,
            past_keys=past_keys,
            past_values=past_values,
            keys=keys,
            values=values,
            weights=weights,
            out=out.data,
        )
    if cache is not None:
        cache.keys, cache.values = keys, values
    if takers:
        attn._record(takers, weights, None, None, None, None)
    return out


class _EncoderLayer(Function):
    """The layer as one node of the graph: the training forward keeps its activations in the
    core (what encoder_layer_forward returns), and the backward is one call too."""

    fresh_gradients = True

    def forward(ctx, x, *params, names, attention, weights):
        ctx.x, ctx.attention = contiguous(x), attention
        ctx.params = {name: None if p is None else contiguous(p) for name, p in zip(names, params)}
        out = empty(x.shape, x.dtype)
        ctx.saved = _core.encoder_layer_forward(
            ctx.x, **ctx.params, **attention, weights=weights, out=out, training=True
        )
        return out

    def backward(ctx, g):
        dx, *grads = _gradient_buffers([ctx.x, *ctx.params.values()], ctx.needs_input_grad)
        grads = {f"d_{name}": grad for name, grad in zip(ctx.params, grads)}
        _core.encoder_layer_backward(
            ctx.saved, ctx.x, contiguous(g), **ctx.params, **ctx.attention, dx=dx, **grads
        )
        return (dx, *grads.values())


def _gradient_buffers(inputs: list, needs: tuple[bool, ...]) -> list:
    """A fresh array for the gradient of each input (an array or None) that needs one, else
    None."""
    return [empty(a.shape, a.dtype) if need else None for a, need in zip(inputs, needs)]


def _needs_graph(inputs: list, modules: list) -> bool:
    """Whether the call records a node: grad enabled, and an input or a parameter of one of
    the modules (each or None) requires grad."""
    return is_grad_enabled() and (
        any(getattr(x, "requires_grad", False) for x in inputs)
        or any(p.requires_grad for m in modules if m is not None for p in m.parameters())
    )


def _records_only_weights(attn: MultiheadAttention) -> bool:
    """Whether every record of attn wants its weights alone: one keeping outputs keeps the
    attention's output Tensor, and one keeping q and k their arrays, which the composition
    makes."""
    return not any(r.keep_outputs or r.keeps_qk for r in attn._attention_recorders)


def _kernel_mask(mask: np.ndarray | None, scores: tuple[int, int, int, int]) -> Any:
    """A checked mask (or None) as the core reads it, broadcast over scores (B, H, Lq, Lk)."""
    return None if mask is None else _kernel_operand(broadcast(mask, "mask", scores))


def _array(p: Tensor | None) -> np.ndarray | None:
    return None if p is None else contiguous(p.data)


def _draw_dropout_seeds(options: Any, sites: list[tuple[str, Module | None]]) -> None:
    """Each dropout that applies (a module in training mode with p > 0: a Dropout, or a
    MultiheadAttention's own) as the option of its name with a seed, drawn from
    al.manual_seed's generator in the order of sites, which is the composition's."""
    for name, module in sites:
        if module is None or not module.training:
            continue
        p = module.dropout if isinstance(module, MultiheadAttention) else module.p
        if p > 0:
            option = _core.DropoutOption()
            option.p, option.seed = p, next_seed()
            setattr(options, name, option)


def _dropout_sites(attn: MultiheadAttention, dropouts: tuple[Dropout | None, ...]) -> list:
    """The encoder layer's: the attention's, then torch's dropout1, dropout and dropout2."""
    return [("attention_dropout", attn)] + list(zip(("dropout1", "dropout", "dropout2"), dropouts))


def _plain(module: Any, *classes: type) -> bool:
    """Whether module is of one of these classes exactly, its forward not replaced: what the
    core computes for it (a subclass or a patched forward may compute something else)."""
    return type(module) in classes and "forward" not in module.__dict__


def _options(
    attn: MultiheadAttention,
    norm1: LayerNorm,
    feed_forward,
    norm2,
    norm_first: bool,
    is_causal: bool,
) -> _core.EncoderLayerOptions | None:
    """The core's options for these parts, or None when one of them is not the core's."""
    norms = [norm1] + ([norm2] if feed_forward else [])
    if not (_attention_fuses(attn, positions=True) and _norms_fuse(norms, attn.embed_dim)):
        return None
    options = _core.EncoderLayerOptions()
    if feed_forward:
        activation = _activation(feed_forward)
        if activation is None:
            return None
        options.activation = activation
        options.norm2_eps = float(norm2.eps)
    options.norm_first = bool(norm_first)
    options.norm1_eps = float(norm1.eps)
    options.causal = bool(is_causal)
    _set_positions(options, attn.positions)
    return options


def _attention_fuses(attn: MultiheadAttention, *, positions: bool) -> bool:
    """Whether the core computes this attention: of its own class, without extra keys or a
    head mask, over keys and values of its width; with positions, ALiBi or rotary ones (else
    none)."""
    c = attn.embed_dim
    if (
        not (_plain(attn, MultiheadAttention) and _plain(attn.out_proj, Linear))
        or attn.bias_k is not None
        or attn.add_zero_attn
        or attn._head_mask is not None
        or attn.kdim != c
        or attn.vdim != c
    ):
        return False
    p = attn.positions
    return (
        p is None
        or positions
        and (
            _plain(p, ALiBi)
            and p.num_heads == attn.num_heads
            or _plain(p, RotaryEmbedding)
            and p.dim == attn.head_dim
        )
    )


def _norms_fuse(norms: list, c: int) -> bool:
    """Whether each is a LayerNorm the core computes: over the c features, a finite eps > 0."""
    return all(
        _plain(n, LayerNorm)
        and n.normalized_shape == (c,)
        and isinstance(n.eps, (int, float))
        and 0 < n.eps < float("inf")
        for n in norms
    )


def _activation(feed_forward: tuple[Linear, Module, Linear]) -> str | None:
    """The core's name of the feed-forward block's activation, or None when the block is not
    the core's."""
    linear1, activation, linear2 = feed_forward
    if not (_plain(linear1, Linear) and _plain(linear2, Linear) and _plain(activation, ReLU, GELU)):
        return None
    if type(activation) is ReLU:
        return "relu"
    return "gelu" if activation.approximate == "none" else "gelu_tanh"


def _set_positions(options: Any, positions: Module | None) -> None:
    """Rotary positions into the options (ALiBi's slopes go in as an argument)."""
    if isinstance(positions, RotaryEmbedding):
        rope = _core.RopeOptions()
        rope.rotary_dim, rope.interleaved, rope.base = (
            positions.rotary_dim,
            positions.interleaved,
            positions.base,
        )
        options.rotary, options.rope = True, rope


def _parameters(attn: MultiheadAttention, norm1: LayerNorm, feed_forward, norm2) -> dict:
    """The layer's parameters (Tensors, or None) by the core's keyword names."""
    params = _attention_parameters(attn)
    params.update(norm1_weight=norm1.weight, norm1_bias=norm1.bias)
    if feed_forward:
        params.update(_feed_forward_parameters(feed_forward))
        params.update(norm2_weight=norm2.weight, norm2_bias=norm2.bias)
    return params


def _attention_parameters(attn: MultiheadAttention, prefix: str = "") -> dict:
    """An attention's projections by the core's keyword names, after prefix."""
    in_proj = attn.in_proj_weight
    if in_proj is None:  # grouped-query heads: the three weights packed for one product
        in_proj = cat([attn.q_proj_weight, attn.k_proj_weight, attn.v_proj_weight])
    return {
        f"{prefix}in_proj_weight": in_proj,
        f"{prefix}in_proj_bias": attn.in_proj_bias,
        f"{prefix}out_proj_weight": attn.out_proj.weight,
        f"{prefix}out_proj_bias": attn.out_proj.bias,
    }


def _feed_forward_parameters(feed_forward: tuple[Linear, Module, Linear]) -> dict:
    linear1, _, linear2 = feed_forward
    return dict(
        linear1_weight=linear1.weight,
        linear1_bias=linear1.bias,
        linear2_weight=linear2.weight,
        linear2_bias=linear2.bias,
    )
