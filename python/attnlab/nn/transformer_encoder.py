"""TransformerEncoderLayer and TransformerEncoder: torch.nn's arguments, submodule names and
computation, batch-first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from attnlab._validation import flag
from attnlab.nn.attention import MultiheadAttention, attention_input, head_counts
from attnlab.nn.feedforward import add_feed_forward, check_batch_first, clones, feed_forward
from attnlab.nn.fused_layer import fused_forward
from attnlab.nn.module import Module
from attnlab.tensor import Tensor


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and a LayerNorm
    (after it, post-norm, by default; before it with ``norm_first=True``), as
    torch.nn.TransformerEncoderLayer: submodules ``self_attn``, ``linear1``, ``dropout``,
    ``linear2``, ``norm1``, ``norm2``, ``dropout1``, ``dropout2``.

    ``activation``: "relu", "gelu", "swiglu" or a callable. For swiglu, linear1 gives 2 *
    dim_feedforward features: the first dim_feedforward are the gate (through silu), the last
    the value. ``num_kv_heads`` and ``positions`` go to the self-attention (MultiheadAttention).
    Only ``batch_first=True``: every attnlab module takes (B, L, C).
    """

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
        add_feed_forward(
            self,
            2,
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
        src: Tensor,
        *,
        mask: np.ndarray | None = None,
        key_mask: np.ndarray | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        """src (B, L, C) -> (B, L, C); the masks as MultiheadAttention's.

        The layer runs as one call into the core, and its backward as another
        (:mod:`attnlab.nn.fused_layer`), when its parts are the core's; the results are the
        composition's, dropout masks included.
        """
        attn = self.self_attn
        x = attention_input(src, "src", attn.embed_dim, "d_model", attn.out_proj.weight.dtype)
        is_causal = flag(is_causal, "is_causal")
        cls = TransformerEncoderLayer  # a subclass's own blocks are its to run
        if type(self)._sa_block is cls._sa_block and type(self)._ff_block is cls._ff_block:
            fused = fused_forward(
                x,
                self.self_attn,
                self.norm1,
                (self.linear1, self.activation, self.linear2),
                self.norm2,
                (self.dropout1, self.dropout, self.dropout2),
                norm_first=self.norm_first,
                mask=mask,
                key_mask=key_mask,
                is_causal=is_causal,
            )
            if fused is not None:
                return fused
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), mask, key_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, mask, key_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, mask, key_mask, is_causal) -> Tensor:
        return self.dropout1(self.self_attn(x, mask=mask, key_mask=key_mask, is_causal=is_causal))

    def _ff_block(self, x) -> Tensor:
        return self.dropout2(feed_forward(self, x))


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` (``layers``, a ModuleList) and an
    optional final ``norm``, as torch.nn.TransformerEncoder."""

    def __init__(
        self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None
    ) -> None:
        super().__init__()
        self.layers = clones(encoder_layer, num_layers, "encoder_layer")
        self.num_layers = len(self.layers)
        self.add_module("norm", norm)

    def forward(
        self,
        src: Tensor,
        *,
        mask: np.ndarray | None = None,
        key_mask: np.ndarray | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, mask=mask, key_mask=key_mask, is_causal=is_causal)
        return x if self.norm is None else self.norm(x)
