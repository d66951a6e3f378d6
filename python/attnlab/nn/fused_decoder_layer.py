"""A transformer decoder layer as one call into the core each way (cpp/bindings/decoder_layer.cpp
-> cpp/src/layers/decoder_layer.cpp): self-attention, cross attention over the encoder's memory
and a feed-forward block with their residual connections and LayerNorms, post-norm or
pre-norm, over one workspace, instead of thirteen kernel calls each way (fifteen and nineteen
calls into the core with the allocations) and the graph nodes between them.

:func:`fused_decoder_forward` runs it when every part of the layer is one the core computes
(the encoder layer's rules, :mod:`attnlab.nn.fused_layer`; the cross attention without
positions): without a graph to record as a plain call, else as one node of the graph whose
backward is one call too; otherwise it returns None and the layer runs its Python
composition, which stays the reference: the same kernels in the same order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab import _core
from attnlab._memory import contiguous, empty
from attnlab.autograd.function import Function
from attnlab.nn.fused_layer import (
    _activation,
    _array,
    _attention_fuses,
    _attention_parameters,
    _draw_dropout_seeds,
    _feed_forward_parameters,
    _gradient_buffers,
    _kernel_mask,
    _needs_graph,
    _norms_fuse,
    _records_only_weights,
    _set_positions,
)
from attnlab.nn.positional import ALiBi
from attnlab.tensor import Tensor


def fused_decoder_forward(
    layer: Any,
    tgt: Tensor,
    memory: Tensor,
    tgt_mask: np.ndarray | None,
    memory_mask: np.ndarray | None,
    tgt_is_causal: bool,
    memory_is_causal: bool,
) -> Tensor | None:
    """The output Tensor (B, Lt, C) of a TransformerDecoderLayer on tgt (B, Lt, C) and memory
    (B, Ls, C), both checked, with its masks checked and combined with their key masks (a node
    of the graph when an input or a parameter requires grad and grad is enabled), or None when
    this layer or call needs the Python composition."""
    sa, ca = layer.self_attn, layer.multihead_attn
    options = _options(layer, tgt_is_causal, memory_is_causal)
    if options is None or memory.shape[1] == 0:
        return None
    if not (_records_only_weights(sa) and _records_only_weights(ca)):
        return None
    b, lt, _ = tgt.shape
    ls = memory.shape[1]
    h, dtype = sa.num_heads, sa.out_proj.weight.dtype
    _draw_dropout_seeds(
        options,
        [
            ("attention_dropout", sa),
            ("dropout1", layer.dropout1),
            ("cross_attention_dropout", ca),
            ("dropout2", layer.dropout2),
            ("dropout", layer.dropout),
            ("dropout3", layer.dropout3),
        ],
    )
    takers = sa._recording(), ca._recording()  # counts this call, in the composition's order
    weights = [
        _core.cached_empty((b, h, lt, lk), dtype) if t else None for t, lk in zip(takers, (lt, ls))
    ]
    params = _parameters(layer)
    attention = dict(
        options=options,
        heads=h,
        kv_heads=sa.num_kv_heads,
        mask=_kernel_mask(tgt_mask, (b, h, lt, lt)),
        memory_mask=_kernel_mask(memory_mask, (b, h, lt, ls)),
        alibi_slopes=sa.positions.slopes if isinstance(sa.positions, ALiBi) else None,
    )
    if _needs_graph([tgt, memory], [layer]):
        out = _DecoderLayer.apply(
            tgt,
            memory,
            *params.values(),
            names=tuple(params),
            attention=attention,
            weights=weights,
        )
    else:
        out = Tensor(empty(tgt.shape, dtype))
        _core.decoder_layer_forward(
            contiguous(tgt.data),
            contiguous(memory.data),
            **{k: _array(p) for k, p in params.items()},
            **attention,
            weights=weights[0],
            cross_weights=weights[1],
            out=out.data,
        )
    for attn, t, w in zip((sa, ca), takers, weights):
        if t:
            attn._record(t, w, None, None, None, None)
    return out


class _DecoderLayer(Function):
    """The decoder layer as one node of the graph: the forward keeps its activations in the
    core (what decoder_layer_forward returns), and the backward is one call too."""

    fresh_gradients = True

    def forward(ctx, x, memory, *params, names, attention, weights):
        ctx.x, ctx.memory, ctx.attention = contiguous(x), contiguous(memory), attention
        ctx.params = {name: None if p is None else contiguous(p) for name, p in zip(names, params)}
        out = empty(x.shape, x.dtype)
        ctx.saved = _core.decoder_layer_forward(
            ctx.x,
            ctx.memory,
            **ctx.params,
            **attention,
            weights=weights[0],
            cross_weights=weights[1],
            out=out,
            training=True,
        )
        return out

    def backward(ctx, g):
        inputs = [ctx.x, ctx.memory, *ctx.params.values()]
        dx, dmemory, *grads = _gradient_buffers(inputs, ctx.needs_input_grad)
        grads = {f"d_{name}": grad for name, grad in zip(ctx.params, grads)}
        _core.decoder_layer_backward(
            ctx.saved,
            ctx.x,
            ctx.memory,
            contiguous(g),
            **ctx.params,
            **ctx.attention,
            dx=dx,
            dmemory=dmemory,
            **grads,
        )
        return (dx, dmemory, *grads.values())


def _options(layer: Any, tgt_is_causal: bool, memory_is_causal: bool) -> Any:
    """The core's options for the layer's parts, or None when one of them is not the core's."""
    sa, ca = layer.self_attn, layer.multihead_attn
    feed_forward = (layer.linear1, layer.activation, layer.linear2)
    activation = _activation(feed_forward)
    c = sa.embed_dim
    if not (
        _attention_fuses(sa, positions=True)
        and _attention_fuses(ca, positions=False)
        and ca.embed_dim == c
        and ca.num_heads == sa.num_heads
        and ca.num_kv_heads == sa.num_kv_heads
        and _norms_fuse([layer.norm1, layer.norm2, layer.norm3], c)
        and activation is not None
    ):
        return None
    options = _core.DecoderLayerOptions()
    options.norm_first = bool(layer.norm_first)
    options.activation = activation
    options.norm1_eps, options.norm2_eps, options.norm3_eps = (
        float(n.eps) for n in (layer.norm1, layer.norm2, layer.norm3)
    )
    options.causal, options.memory_causal = tgt_is_causal, memory_is_causal
    # Separate k and v weights (grouped-query heads) make two products in the composition.
    options.cross_kv_apart = ca.in_proj_weight is None
    _set_positions(options, sa.positions)
    return options


def _parameters(layer: Any) -> dict:
    """The layer's parameters (Tensors, or None) by the core's keyword names."""
    params = _attention_parameters(layer.self_attn)
    params.update(_attention_parameters(layer.multihead_attn, "cross_"))
    params.update(_feed_forward_parameters((layer.linear1, layer.activation, layer.linear2)))
    for i, norm in enumerate((layer.norm1, layer.norm2, layer.norm3), 1):
        params.update({f"norm{i}_weight": norm.weight, f"norm{i}_bias": norm.bias})
    return params
