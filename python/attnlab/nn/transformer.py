"""Transformer: an encoder-decoder as torch.nn.Transformer (``encoder``, ``decoder``, each
with a final ``norm``), batch-first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from attnlab._validation import flag
from attnlab.nn import init
from attnlab.nn.attention import attention_input, attention_mask, head_counts, same_batch
from attnlab.nn.feedforward import check_batch_first
from attnlab.nn.linear import features
from attnlab.nn.module import Module
from attnlab.nn.normalization import LayerNorm
from attnlab.nn.transformer_decoder import (
    TransformerDecoder,
    TransformerDecoderLayer,
    decoder_masks,
)
from attnlab.nn.transformer_encoder import TransformerEncoder, TransformerEncoderLayer
from attnlab.tensor import Tensor


class Transformer(Module):
    """torch.nn.Transformer's arguments, defaults and names: ``encoder`` (a TransformerEncoder
    of num_encoder_layers TransformerEncoderLayers and a final LayerNorm), ``decoder``
    likewise; every parameter with more than one dimension starts xavier_uniform_ (torch's
    ``_reset_parameters``). Only ``batch_first=True``."""

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        check_batch_first(batch_first)
        self.d_model, self.nhead, _ = head_counts(d_model, nhead, names=("d_model", "nhead"))
        num_encoder_layers = features(num_encoder_layers, "num_encoder_layers")
        num_decoder_layers = features(num_decoder_layers, "num_decoder_layers")
        for name, custom in ("custom_encoder", custom_encoder), ("custom_decoder", custom_decoder):
            if custom is not None and not isinstance(custom, Module):
                raise TypeError(f"{name}: expected a Module or None, got {type(custom).__name__}")
        layer_args = dict(
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
            norm_first=norm_first,
            bias=bias,
            dtype=dtype,
        )
        if custom_encoder is None:
            custom_encoder = TransformerEncoder(
                TransformerEncoderLayer(d_model, nhead, **layer_args),
                num_encoder_layers,
                LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype),
            )
        if custom_decoder is None:
            custom_decoder = TransformerDecoder(
                TransformerDecoderLayer(d_model, nhead, **layer_args),
                num_decoder_layers,
                LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype),
            )
        self.encoder = custom_encoder
        self.decoder = custom_decoder
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        *,
        src_mask: np.ndarray | None = None,
        tgt_mask: np.ndarray | None = None,
        memory_mask: np.ndarray | None = None,
        src_key_mask: np.ndarray | None = None,
        tgt_key_mask: np.ndarray | None = None,
        memory_key_mask: np.ndarray | None = None,
        src_is_causal: bool = False,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """src (B, Ls, C), tgt (B, Lt, C) -> (B, Lt, C). Masks: True = may attend; key masks
        (B, L) True/1 = real token (memory_key_mask is usually src_key_mask)."""
        # Every argument checked before the encoder runs, under the caller's names.
        first = next(self.parameters(), None)
        dtype = None if first is None else first.dtype
        src = attention_input(src, "src", self.d_model, "d_model", dtype)
        tgt = attention_input(tgt, "tgt", self.d_model, "d_model", dtype)
        same_batch(tgt, "tgt", src, "src")
        (b, ls), lt = src.shape[:2], tgt.shape[1]
        src_mask = attention_mask(
            src_mask, src_key_mask, (b, self.nhead, ls, ls), ("src_mask", "src_key_mask")
        )
        src_is_causal = flag(src_is_causal, "src_is_causal")
        tgt_mask, memory_mask, tgt_is_causal, memory_is_causal = decoder_masks(
            (b, self.nhead, lt, ls),
            tgt_mask,
            tgt_key_mask,
            tgt_is_causal,
            memory_mask,
            memory_key_mask,
            memory_is_causal,
        )
        memory = self.encoder(src, mask=src_mask, is_causal=src_is_causal)
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(sz: int) -> np.ndarray:
        """The causal mask (sz, sz) in attnlab's convention: bool, True = may attend (on and
        below the diagonal). torch's returns a float mask of 0 and -inf instead."""
        sz = features(sz, "sz")
        return np.tril(np.ones((sz, sz), dtype=bool))
