"""The counterpart of one torch.nn layer in attnlab.nn, and back, built from its settings
(its children through ``build``, which converts any module); weights and per-submodule
settings follow in transfer.py. torch.nn's and attnlab.nn's constructors take the same
arguments, so one builder serves both ways; each checks what the other side cannot express."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from attnlab import nn
from attnlab.interop._torch import functional as TF
from attnlab.interop._torch import nn as tnn


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
        raise TypeError(
            f"{where}.{name}: expected {' or '.join(k.__qualname__ for k in kinds)}, "
            f"got {type(value).__qualname__}"
        )
    return value


def _describe(activation: Any) -> str:
    return getattr(activation, "__qualname__", None) or repr(activation)


# ---- built the same way on either side ------------------------------------------------------
def linear(m: Any, where: str, to: Target, kind: type) -> Any:
    return kind(m.in_features, m.out_features, bias=m.bias is not None, dtype=to.dtype)


def layer_norm(m: Any, where: str, to: Target, kind: type) -> Any:
    return kind(
        m.normalized_shape, m.eps, m.elementwise_affine, bias=m.bias is not None, dtype=to.dtype
    )


def attention(m: Any, where: str, to: Target, kind: type) -> Any:
    """A MultiheadAttention of ``kind`` with m's sizes and layout; its dropout follows in
    transfer.py, which checks it. attnlab's own options that torch lacks are errors."""
    if isinstance(m, nn.MultiheadAttention):
        _plain_attention(m, where)
    return kind(
        m.embed_dim,
        m.num_heads,
        0.0,
        bias=m.in_proj_bias is not None,
        add_bias_kv=m.bias_k is not None,
        add_zero_attn=m.add_zero_attn,
        kdim=m.kdim,
        vdim=m.vdim,
        batch_first=to.batch_first,
        dtype=to.dtype,
    )


def transformer_layer(m: Any, where: str, to: Target, kind: type) -> Any:
    """An encoder or decoder layer of ``kind`` with m's sizes (from self_attn and linear1),
    activation, layout and norm_first; every dropout's p and LayerNorm's eps follow in
    transfer.py, which checks them."""
    if isinstance(m, tnn.Module):
        attention_kind, linear_kind, activation = (
            tnn.MultiheadAttention,
            tnn.Linear,
            _activation_from_torch(m.activation, where),
        )
    else:
        attention_kind, linear_kind, activation = (
            nn.MultiheadAttention,
            nn.Linear,
            _activation_to_torch(m.activation, where),
        )
    for name in ("self_attn", "multihead_attn") if hasattr(m, "multihead_attn") else ("self_attn",):
        attn = child(m, name, attention_kind, where)
        if attention_kind is nn.MultiheadAttention:
            _plain_attention(attn, f"{where}.{name}")
    linear1 = child(m, "linear1", linear_kind, where)
    return kind(
        m.self_attn.embed_dim,
        m.self_attn.num_heads,
        linear1.out_features,
        0.0,
        activation,
        batch_first=to.batch_first,
        norm_first=m.norm_first,
        bias=linear1.bias is not None,
        dtype=to.dtype,
    )


def stack(m: Any, where: str, to: Target, kind: type, layer_kind: type, **options: Any) -> Any:
    """An encoder or decoder stack of ``kind`` over m's layers, each converted on its own (so
    layers that differ stay different), and its final norm."""
    layers = [
        to.build(child(m.layers, str(i), layer_kind, f"{where}.layers"), f"{where}.layers.{i}")
        for i in range(len(m.layers))
    ]
    if not layers:
        raise ValueError(
            f"{where}.layers: empty; {kind.__module__}.{kind.__name__} runs at least one layer"
        )
    norm = None if m.norm is None else to.build(m.norm, f"{where}.norm")
    built = kind(layers[0], 0, norm, **options)
    built.layers.extend(layers)
    built.num_layers = len(layers)
    return built


def transformer(
    m: Any, where: str, to: Target, kind: type, encoder_kind: type, decoder_kind: type
) -> Any:
    encoder = to.build(child(m, "encoder", encoder_kind, where), f"{where}.encoder")
    decoder = to.build(child(m, "decoder", decoder_kind, where), f"{where}.decoder")
    return kind(
        m.d_model,
        m.nhead,
        custom_encoder=encoder,
        custom_decoder=decoder,
        batch_first=to.batch_first,
        dtype=to.dtype,
    )


# ---- what one side cannot express ------------------------------------------------------------
def embedding(m: Any, where: str, to: Target, kind: type) -> Any:
    if isinstance(m, tnn.Embedding):
        for name, plain in (("max_norm", None), ("scale_grad_by_freq", False), ("sparse", False)):
            if getattr(m, name) != plain:
                raise ValueError(
                    f"{where}.{name}: {getattr(m, name)!r}; attnlab's Embedding has "
                    f"no such option (only {name}={plain!r} converts)"
                )
    return kind(m.num_embeddings, m.embedding_dim, m.padding_idx, dtype=to.dtype)


def _plain_attention(m: nn.MultiheadAttention, where: str) -> None:
    """ValueError for what torch.nn.MultiheadAttention cannot do."""
    if m.positions is not None:
        raise ValueError(
            f"{where}.positions: {type(m.positions).__name__}; "
            "torch.nn.MultiheadAttention has no relative positions"
        )
    if m.num_kv_heads != m.num_heads:
        raise ValueError(
            f"{where}.num_kv_heads: {m.num_kv_heads} (grouped-query heads, num_heads="
            f"{m.num_heads}); torch.nn.MultiheadAttention has one key head per head"
        )
    if m.head_mask is not None:
        raise ValueError(
            f"{where}.head_mask: set; torch.nn.MultiheadAttention cannot scale heads "
            "(set head_mask = None first)"
        )


def _activation_from_torch(activation: Any, where: str) -> str:
    if activation is TF.relu or type(activation) is tnn.ReLU:
        return "relu"
    if activation is TF.gelu or (type(activation) is tnn.GELU and activation.approximate == "none"):
        return "gelu"
    if type(activation) is tnn.GELU:
        raise ValueError(
            f"{where}.activation: GELU(approximate={activation.approximate!r}); "
            "torch's inference fast path runs the exact gelu for it, so the layer "
            "computes two functions; use 'gelu'"
        )
    raise ValueError(
        f"{where}.activation: {_describe(activation)} is not an activation attnlab's "
        "transformer layers run the same (relu or gelu: torch.nn.functional's, or "
        "nn.ReLU() / nn.GELU())"
    )


def _activation_to_torch(activation: Any, where: str) -> str:
    if type(activation) is nn.ReLU:
        return "relu"
    if type(activation) is nn.GELU and activation.approximate == "none":
        return "gelu"
    raise ValueError(
        f"{where}.activation: {_describe(activation)} is not an activation torch's "
        "transformer layers run the same (relu or gelu with approximate='none')"
    )


def torch_layout(m: tnn.Module, where: str) -> bool | None:
    """batch_first of the torch attention (and Transformer) inside m; None when none has one.
    ValueError when they disagree: the module would take two layouts."""
    layouts = {
        sub.batch_first
        for sub in m.modules()
        if isinstance(sub, (tnn.MultiheadAttention, tnn.Transformer))
    }
    if len(layouts) > 1:
        raise ValueError(
            f"{where}: its layers disagree on batch_first (some True, some False); "
            "attnlab converts one layout"
        )
    return layouts.pop() if layouts else None


# (torch class, attnlab class, the builder of either from the other, its further arguments)
CORRESPONDING = [
    (tnn.Linear, nn.Linear, linear, {}),
    (tnn.Embedding, nn.Embedding, embedding, {}),
    (tnn.LayerNorm, nn.LayerNorm, layer_norm, {}),
    (tnn.MultiheadAttention, nn.MultiheadAttention, attention, {}),
    (tnn.TransformerEncoderLayer, nn.TransformerEncoderLayer, transformer_layer, {}),
    (tnn.TransformerDecoderLayer, nn.TransformerDecoderLayer, transformer_layer, {}),
    (
        tnn.TransformerEncoder,
        nn.TransformerEncoder,
        stack,
        {"layer_kind": (tnn.TransformerEncoderLayer, nn.TransformerEncoderLayer)},
    ),
    (
        tnn.TransformerDecoder,
        nn.TransformerDecoder,
        stack,
        {"layer_kind": (tnn.TransformerDecoderLayer, nn.TransformerDecoderLayer)},
    ),
    (
        tnn.Transformer,
        nn.Transformer,
        transformer,
        {
            "encoder_kind": (tnn.TransformerEncoder, nn.TransformerEncoder),
            "decoder_kind": (tnn.TransformerDecoder, nn.TransformerDecoder),
        },
    ),
]


def _builders(to_attnlab: bool) -> dict[type, Callable]:
    """Source class -> builder of its counterpart; each pair of further arguments (torch's,
    attnlab's) becomes the source side's."""
    table = {}
    for theirs, ours, build, pairs in CORRESPONDING:
        source, kind = (theirs, ours) if to_attnlab else (ours, theirs)
        side = 0 if to_attnlab else 1
        table[source] = partial(build, kind=kind, **{k: pair[side] for k, pair in pairs.items()})
    return table


FROM_TORCH = _builders(to_attnlab=True)
FROM_TORCH[tnn.modules.linear.NonDynamicallyQuantizableLinear] = FROM_TORCH[tnn.Linear]
TO_TORCH = _builders(to_attnlab=False)
# Without nested tensors: padded positions are computed (not zeroed), as in attnlab.
TO_TORCH[nn.TransformerEncoder] = partial(
    TO_TORCH[nn.TransformerEncoder], enable_nested_tensor=False
)
