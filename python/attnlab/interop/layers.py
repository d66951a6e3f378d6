"""The counterpart of one torch.nn layer in attnlab.nn, and back, built from its settings
(its children through ``build``, which converts any module); weights and per-submodule
settings follow in transfer.py. Each function checks what the other side cannot express."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn as tnn
from torch.nn import functional as TF

from attnlab import nn


@dataclass(frozen=True)
class Target:
    """What every builder of one conversion shares: the dtype of the modules it builds (NumPy's
    or torch's), the torch layout (to torch), and ``build(module, where)`` for children."""

    dtype: Any
    batch_first: bool
    build: Callable[[Any, str], Any]


def child(module: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """module.<name>, which must be exactly of ``kind`` (a subclass may compute otherwise)."""
    value = getattr(module, name)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if type(value) not in kinds:
        raise TypeError(f"{where}.{name}: expected {' or '.join(k.__qualname__ for k in kinds)}, "
                        f"got {type(value).__qualname__}")
    return value


def _describe(activation: Any) -> str:
    return getattr(activation, "__qualname__", None) or repr(activation)


# ---- torch.nn -> attnlab.nn ------------------------------------------------------------------
def linear_from_torch(m: tnn.Linear, where: str, to: Target) -> nn.Linear:
    return nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=to.dtype)


def embedding_from_torch(m: tnn.Embedding, where: str, to: Target) -> nn.Embedding:
    for name, plain in (("max_norm", None), ("scale_grad_by_freq", False), ("sparse", False)):
        if getattr(m, name) != plain:
            raise ValueError(f"{where}.{name}: {getattr(m, name)!r}; attnlab's Embedding has no "
                             f"such option (only {name}={plain!r} converts)")
    return nn.Embedding(m.num_embeddings, m.embedding_dim, m.padding_idx, dtype=to.dtype)


def layer_norm_from_torch(m: tnn.LayerNorm, where: str, to: Target) -> nn.LayerNorm:
    return nn.LayerNorm(m.normalized_shape, m.eps, m.elementwise_affine, bias=m.bias is not None,
                        dtype=to.dtype)


def _attention(m: Any, to: Target, kind: type) -> Any:
    """A MultiheadAttention of ``kind`` (either side's) with m's sizes and layout; its dropout
    follows in transfer.py, which checks it."""
    return kind(m.embed_dim, m.num_heads, 0.0, bias=m.in_proj_bias is not None,
                add_bias_kv=m.bias_k is not None, add_zero_attn=m.add_zero_attn, kdim=m.kdim,
                vdim=m.vdim, batch_first=to.batch_first, dtype=to.dtype)


def attention_from_torch(m: tnn.MultiheadAttention, where: str,
                         to: Target) -> nn.MultiheadAttention:
    return _attention(m, to, nn.MultiheadAttention)


def _activation_from_torch(activation: Any, where: str) -> str:
    if activation is TF.relu or type(activation) is tnn.ReLU:
        return "relu"
    if activation is TF.gelu or (type(activation) is tnn.GELU and activation.approximate == "none"):
        return "gelu"
    if type(activation) is tnn.GELU:
        raise ValueError(f"{where}.activation: GELU(approximate={activation.approximate!r}); "
                         "torch's inference fast path runs the exact gelu for it, so the layer "
                         "computes two functions; use 'gelu'")
    raise ValueError(f"{where}.activation: {_describe(activation)} is not an activation attnlab's "
                     "transformer layers run the same (relu or gelu: torch.nn.functional's, or "
                     "nn.ReLU() / nn.GELU())")


def _layer(m: Any, where: str, to: Target, kind: type, activation: str) -> Any:
    """An encoder or decoder layer of ``kind`` (either side's) with m's sizes (from self_attn
    and linear1), activation, layout and norm_first; every dropout's p and LayerNorm's eps
    follow in transfer.py, which checks them."""
    attn = m.self_attn
    linear1 = m.linear1
    return kind(attn.embed_dim, attn.num_heads, linear1.out_features, 0.0, activation,
                batch_first=to.batch_first, norm_first=m.norm_first,
                bias=linear1.bias is not None, dtype=to.dtype)


def _layer_from_torch(m: Any, where: str, to: Target, kind: type) -> nn.Module:
    child(m, "self_attn", tnn.MultiheadAttention, where)
    child(m, "linear1", tnn.Linear, where)
    return _layer(m, where, to, kind, _activation_from_torch(m.activation, where))


def encoder_layer_from_torch(m: tnn.TransformerEncoderLayer, where: str,
                             to: Target) -> nn.TransformerEncoderLayer:
    return _layer_from_torch(m, where, to, nn.TransformerEncoderLayer)


def decoder_layer_from_torch(m: tnn.TransformerDecoderLayer, where: str,
                             to: Target) -> nn.TransformerDecoderLayer:
    return _layer_from_torch(m, where, to, nn.TransformerDecoderLayer)


def _stack(m: Any, where: str, to: Target, kind: type, layer_kind: type, **options: Any) -> Any:
    """An encoder or decoder stack of ``kind`` (either side's) over m's layers, each converted
    on its own (so layers that differ stay different), and its final norm."""
    layers = [to.build(child(m.layers, str(i), layer_kind, f"{where}.layers"),
                       f"{where}.layers.{i}") for i in range(len(m.layers))]
    if not layers:
        raise ValueError(f"{where}.layers: empty; {kind.__module__}.{kind.__name__} runs at least "
                         "one layer")
    norm = None if m.norm is None else to.build(m.norm, f"{where}.norm")
    stack = kind(layers[0], 0, norm, **options)
    stack.layers.extend(layers)
    stack.num_layers = len(layers)
    return stack


def encoder_from_torch(m: tnn.TransformerEncoder, where: str, to: Target) -> nn.TransformerEncoder:
    return _stack(m, where, to, nn.TransformerEncoder, tnn.TransformerEncoderLayer)


def decoder_from_torch(m: tnn.TransformerDecoder, where: str, to: Target) -> nn.TransformerDecoder:
    return _stack(m, where, to, nn.TransformerDecoder, tnn.TransformerDecoderLayer)


def transformer_from_torch(m: tnn.Transformer, where: str, to: Target) -> nn.Transformer:
    encoder = to.build(child(m, "encoder", tnn.TransformerEncoder, where), f"{where}.encoder")
    decoder = to.build(child(m, "decoder", tnn.TransformerDecoder, where), f"{where}.decoder")
    return nn.Transformer(m.d_model, m.nhead, custom_encoder=encoder, custom_decoder=decoder,
                          dtype=to.dtype)


def torch_layout(m: tnn.Module, where: str) -> bool | None:
    """batch_first of the torch attention (and Transformer) inside m; None when none has one.
    ValueError when they disagree: the module would take two layouts."""
    layouts = {sub.batch_first for sub in m.modules()
               if isinstance(sub, (tnn.MultiheadAttention, tnn.Transformer))}
    if len(layouts) > 1:
        raise ValueError(f"{where}: its layers disagree on batch_first (some True, some False); "
                         "attnlab converts one layout")
    return layouts.pop() if layouts else None


# ---- attnlab.nn -> torch.nn ------------------------------------------------------------------
def linear_to_torch(m: nn.Linear, where: str, to: Target) -> tnn.Linear:
    return tnn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=to.dtype)


def embedding_to_torch(m: nn.Embedding, where: str, to: Target) -> tnn.Embedding:
    return tnn.Embedding(m.num_embeddings, m.embedding_dim, m.padding_idx, dtype=to.dtype)


def layer_norm_to_torch(m: nn.LayerNorm, where: str, to: Target) -> tnn.LayerNorm:
    return tnn.LayerNorm(m.normalized_shape, m.eps, m.elementwise_affine, bias=m.bias is not None,
                         dtype=to.dtype)


def _plain_attention(m: nn.MultiheadAttention, where: str) -> None:
    """ValueError for what torch.nn.MultiheadAttention cannot do."""
    if m.positions is not None:
        raise ValueError(f"{where}.positions: {type(m.positions).__name__}; "
                         "torch.nn.MultiheadAttention has no relative positions")
    if m.num_kv_heads != m.num_heads:
        raise ValueError(f"{where}.num_kv_heads: {m.num_kv_heads} (grouped-query heads, num_heads="
                         f"{m.num_heads}); torch.nn.MultiheadAttention has one key head per head")
    if m.head_mask is not None:
        raise ValueError(f"{where}.head_mask: set; torch.nn.MultiheadAttention cannot scale heads "
                         "(set head_mask = None first)")


def attention_to_torch(m: nn.MultiheadAttention, where: str,
                       to: Target) -> tnn.MultiheadAttention:
    _plain_attention(m, where)
    return _attention(m, to, tnn.MultiheadAttention)


def _activation_to_torch(activation: Any, where: str) -> str:
    if type(activation) is nn.ReLU:
        return "relu"
    if type(activation) is nn.GELU and activation.approximate == "none":
        return "gelu"
    raise ValueError(f"{where}.activation: {_describe(activation)} is not an activation torch's "
                     "transformer layers run the same (relu or gelu with approximate='none')")


def _layer_to_torch(m: Any, where: str, to: Target, kind: type) -> tnn.Module:
    decoder = kind is tnn.TransformerDecoderLayer
    for name in ("self_attn", "multihead_attn") if decoder else ("self_attn",):
        _plain_attention(child(m, name, nn.MultiheadAttention, where), f"{where}.{name}")
    child(m, "linear1", nn.Linear, where)
    return _layer(m, where, to, kind, _activation_to_torch(m.activation, where))


def encoder_layer_to_torch(m: nn.TransformerEncoderLayer, where: str,
                           to: Target) -> tnn.TransformerEncoderLayer:
    return _layer_to_torch(m, where, to, tnn.TransformerEncoderLayer)


def decoder_layer_to_torch(m: nn.TransformerDecoderLayer, where: str,
                           to: Target) -> tnn.TransformerDecoderLayer:
    return _layer_to_torch(m, where, to, tnn.TransformerDecoderLayer)


def encoder_to_torch(m: nn.TransformerEncoder, where: str, to: Target) -> tnn.TransformerEncoder:
    # Without nested tensors: padded positions are computed (not zeroed), as in attnlab.
    return _stack(m, where, to, tnn.TransformerEncoder, nn.TransformerEncoderLayer,
                  enable_nested_tensor=False)


def decoder_to_torch(m: nn.TransformerDecoder, where: str, to: Target) -> tnn.TransformerDecoder:
    return _stack(m, where, to, tnn.TransformerDecoder, nn.TransformerDecoderLayer)


def transformer_to_torch(m: nn.Transformer, where: str, to: Target) -> tnn.Transformer:
    encoder = to.build(child(m, "encoder", nn.TransformerEncoder, where), f"{where}.encoder")
    decoder = to.build(child(m, "decoder", nn.TransformerDecoder, where), f"{where}.decoder")
    return tnn.Transformer(m.d_model, m.nhead, custom_encoder=encoder, custom_decoder=decoder,
                           batch_first=to.batch_first, dtype=to.dtype)


FROM_TORCH = {
    tnn.Linear: linear_from_torch,
    tnn.modules.linear.NonDynamicallyQuantizableLinear: linear_from_torch,
    tnn.Embedding: embedding_from_torch,
    tnn.LayerNorm: layer_norm_from_torch,
    tnn.MultiheadAttention: attention_from_torch,
    tnn.TransformerEncoderLayer: encoder_layer_from_torch,
    tnn.TransformerEncoder: encoder_from_torch,
    tnn.TransformerDecoderLayer: decoder_layer_from_torch,
    tnn.TransformerDecoder: decoder_from_torch,
    tnn.Transformer: transformer_from_torch,
}

TO_TORCH = {
    nn.Linear: linear_to_torch,
    nn.Embedding: embedding_to_torch,
    nn.LayerNorm: layer_norm_to_torch,
    nn.MultiheadAttention: attention_to_torch,
    nn.TransformerEncoderLayer: encoder_layer_to_torch,
    nn.TransformerEncoder: encoder_to_torch,
    nn.TransformerDecoderLayer: decoder_layer_to_torch,
    nn.TransformerDecoder: decoder_to_torch,
    nn.Transformer: transformer_to_torch,
}
