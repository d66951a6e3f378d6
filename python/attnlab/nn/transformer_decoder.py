"""TransformerDecoderLayer and TransformerDecoder: torch.nn's arguments, submodule names and
computation, batch-first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from attnlab._validation import flag
from attnlab.nn.attention import (
    MultiheadAttention,
    attention_input,
    attention_mask,
    head_counts,
    same_batch,
)
from attnlab.nn.feedforward import add_feed_forward, check_batch_first, clones, feed_forward
from attnlab.nn.fused_decoder_layer import fused_decoder_forward
from attnlab.nn.module import Module
from attnlab.tensor import Tensor

_BLOCKS = ("_sa_block", "_mha_block", "_ff_block")  # what a subclass may override


class TransformerDecoderLayer(Module):
    """Self-attention over the target, cross attention to the encoder's memory and a
    feed-forward block, each with a residual connection and a LayerNorm (post-norm by default,
    pre-norm with ``norm_first=True``), as torch.nn.TransformerDecoderLayer: submodules
    ``self_attn``, ``multihead_attn``, ``linear1``, ``dropout``, ``linear2``, ``norm1..3``,
    ``dropout1..3``. ``activation``, ``num_kv_heads`` and ``positions`` as in
    TransformerEncoderLayer (positions apply to the self-attention only)."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        *,
        num_kv_heads: int | None = None,
        positions: Module | str | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        check_batch_first(batch_first)
        head_counts(d_model, nhead, num_kv_heads, names=("d_model", "nhead"))
        self.self_attn = MultiheadAttention(
            d_model,
            nhead,
            dropout=dropout,
            bias=bias,
            num_kv_heads=num_kv_heads,
            positions=positions,
            dtype=dtype,
        )
        self.multihead_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, num_kv_heads=num_kv_heads, dtype=dtype
        )
        add_feed_forward(
            self,
            3,
            d_model,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            norm_first,
            bias,
            dtype,
        )

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        *,
        tgt_mask: np.ndarray | None = None,
        memory_mask: np.ndarray | None = None,
        tgt_key_mask: np.ndarray | None = None,
        memory_key_mask: np.ndarray | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """tgt (B, Lt, C), memory (B, Ls, C) -> (B, Lt, C). Masks as MultiheadAttention's:
        True = may attend; key masks True/1 = real token.

        The layer runs as one call into the core, and its backward as another
        (:mod:`attnlab.nn.fused_decoder_layer`), when its parts are the core's; the results are
        the composition's, dropout masks included.
        """
        # Checked before anything reads them, so that errors name what the caller passed.
        attn = self.self_attn
        d, dtype = attn.embed_dim, attn.out_proj.weight.dtype
        tgt = attention_input(tgt, "tgt", d, "d_model", dtype)
        memory = attention_input(memory, "memory", d, "d_model", dtype)
        same_batch(memory, "memory", tgt, "tgt")
        (b, lt), ls = tgt.shape[:2], memory.shape[1]
        tgt_mask, memory_mask, tgt_is_causal, memory_is_causal = decoder_masks(
            (b, attn.num_heads, lt, ls),
            tgt_mask,
            tgt_key_mask,
            tgt_is_causal,
            memory_mask,
            memory_key_mask,
            memory_is_causal,
        )
        cls = TransformerDecoderLayer  # a subclass's own blocks are its to run
        if all(getattr(type(self), f) is getattr(cls, f) for f in _BLOCKS):
            fused = fused_decoder_forward(
                self, tgt, memory, tgt_mask, memory_mask, tgt_is_causal, memory_is_causal
            )
            if fused is not None:
                return fused
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, mask, is_causal) -> Tensor:
        return self.dropout1(self.self_attn(x, mask=mask, is_causal=is_causal))

    def _mha_block(self, x, memory, mask, is_causal) -> Tensor:
        return self.dropout2(self.multihead_attn(x, memory, memory, mask=mask, is_causal=is_causal))

    def _ff_block(self, x) -> Tensor:
        return self.dropout3(feed_forward(self, x))


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` (``layers``) and an optional final
    ``norm``, as torch.nn.TransformerDecoder."""

    def __init__(
        self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None
    ) -> None:
        super().__init__()
        self.layers = clones(decoder_layer, num_layers, "decoder_layer")
        self.num_layers = len(self.layers)
        self.add_module("norm", norm)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        *,
        tgt_mask: np.ndarray | None = None,
        memory_mask: np.ndarray | None = None,
        tgt_key_mask: np.ndarray | None = None,
        memory_key_mask: np.ndarray | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        x = tgt
        for layer in self.layers:
            x = layer(
                x,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_mask=tgt_key_mask,
                memory_key_mask=memory_key_mask,
                tgt_is_causal=tgt_is_causal,
                memory_is_causal=memory_is_causal,
            )
        return x if self.norm is None else self.norm(x)


def decoder_masks(
    shape: tuple[int, int, int, int],
    tgt_mask: Any,
    tgt_key_mask: Any,
    tgt_is_causal: Any,
    memory_mask: Any,
    memory_key_mask: Any,
    memory_is_causal: Any,
) -> tuple[Any, Any, bool, bool]:
    """A decoder's masks checked under the caller's names, each pair as one mask (``shape`` =
    (B, H, Lt, Ls)), and its flags as bools."""
    b, h, lt, _ = shape
    return (
        attention_mask(tgt_mask, tgt_key_mask, (b, h, lt, lt), ("tgt_mask", "tgt_key_mask")),
        attention_mask(memory_mask, memory_key_mask, shape, ("memory_mask", "memory_key_mask")),
        flag(tgt_is_causal, "tgt_is_causal"),
        flag(memory_is_causal, "memory_is_causal"),
    )
