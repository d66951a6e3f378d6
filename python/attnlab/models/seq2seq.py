"""Seq2Seq: an encoder-decoder transformer (Vaswani et al. 2017) with greedy decoding."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from attnlab import nn
from attnlab._validation import index
from attnlab.autograd import no_grad
from attnlab.models._embed import POSITIONS, TokenEmbedding, check_sizes, key_mask_array, token_ids
from attnlab.tensor import Tensor


@dataclass(frozen=True)
class Seq2SeqConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    max_len: int
    n_layer: int = 2  # on each side
    n_head: int = 4
    d_model: int = 64
    d_ff: int | None = None  # default 4 * d_model
    dropout: float = 0.0
    positions: str = "sinusoidal"
    activation: str = "gelu"

    def __post_init__(self) -> None:
        check_sizes(
            self, ("src_vocab_size", "tgt_vocab_size", "max_len", "n_layer", "n_head", "d_model")
        )
        if self.positions not in POSITIONS:
            raise ValueError(f"positions: expected one of {POSITIONS}, got {self.positions!r}")


class Seq2Seq(nn.Module):
    """``model(src, tgt)``: src (B, S) and decoder input tgt (B, T) ints -> logits (B, T,
    tgt_vocab_size), the decoder causal and cross-attending to the encoded source.

    The layers are ``nn.Transformer``'s (pre-norm), under ``transformer.encoder`` and
    ``transformer.decoder`` (cross attention: ``transformer.decoder.layers.0.multihead_attn``).
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        max_len: int,
        n_layer: int = 2,
        n_head: int = 4,
        d_model: int = 64,
        d_ff: int | None = None,
        dropout: float = 0.0,
        positions: str = "sinusoidal",
        activation: str = "gelu",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        c = Seq2SeqConfig(
            src_vocab_size,
            tgt_vocab_size,
            max_len,
            n_layer,
            n_head,
            d_model,
            d_ff,
            dropout,
            positions,
            activation,
        )
        self.config = c
        self.src_embed = TokenEmbedding(
            c.src_vocab_size, c.d_model, c.max_len, c.positions, c.dropout, dtype
        )
        self.tgt_embed = TokenEmbedding(
            c.tgt_vocab_size, c.d_model, c.max_len, c.positions, c.dropout, dtype
        )
        self.transformer = nn.Transformer(
            d_model=c.d_model,
            nhead=c.n_head,
            num_encoder_layers=c.n_layer,
            num_decoder_layers=c.n_layer,
            dim_feedforward=c.d_ff or 4 * c.d_model,
            dropout=c.dropout,
            activation=c.activation,
            batch_first=True,
            norm_first=True,
            dtype=dtype,
        )
        self.generator = nn.Linear(c.d_model, c.tgt_vocab_size, dtype=dtype)

    @classmethod
    def from_config(cls, config: Seq2SeqConfig, *, dtype: Any = np.float32) -> Seq2Seq:
        return cls(**asdict(config), dtype=dtype)

    def encode(self, src: np.ndarray, src_key_mask: np.ndarray | None = None) -> Tensor:
        """The memory (B, S, C) the decoder attends to."""
        src = token_ids(src, "src", self.config.src_vocab_size, "src_vocab_size")
        src_key_mask = key_mask_array(src_key_mask, src.shape, "src_key_mask")
        return self.transformer.encoder(self.src_embed(src), key_mask=src_key_mask)

    def decode(
        self,
        tgt: np.ndarray,
        memory: Tensor,
        *,
        src_key_mask: np.ndarray | None = None,
        tgt_key_mask: np.ndarray | None = None,
    ) -> Tensor:
        """Next-token logits (B, T, V) for decoder input tgt (B, T) given the memory."""
        tgt = token_ids(tgt, "tgt", self.config.tgt_vocab_size, "tgt_vocab_size")
        tgt_key_mask = key_mask_array(tgt_key_mask, tgt.shape, "tgt_key_mask")
        h = self.transformer.decoder(
            self.tgt_embed(tgt),
            memory,
            tgt_is_causal=True,
            tgt_key_mask=tgt_key_mask,
            memory_key_mask=src_key_mask,
        )
        return self.generator(h)  # (B, T, V)

    def forward(
        self,
        src: np.ndarray,
        tgt: np.ndarray,
        *,
        src_key_mask: np.ndarray | None = None,
        tgt_key_mask: np.ndarray | None = None,
    ) -> Tensor:
        memory = self.encode(src, src_key_mask)
        return self.decode(tgt, memory, src_key_mask=src_key_mask, tgt_key_mask=tgt_key_mask)

    def greedy_decode(
        self,
        src: np.ndarray,
        max_len: int,
        *,
        bos_id: int,
        eos_id: int | None = None,
        src_key_mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """The argmax continuation of ``bos_id`` for each source row: (B, max_len) token ids
        (without the bos); after ``eos_id`` a row repeats eos. Eval mode, no_grad; the mode is
        restored afterwards."""
        max_len = index(max_len, "max_len")
        if not 0 <= max_len < self.config.max_len:
            raise ValueError(
                f"max_len: expected an int in [0, {self.config.max_len}), got {max_len}"
            )
        bos_id = index(bos_id, "bos_id")
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                memory = self.encode(src, src_key_mask)
                out = np.full((memory.shape[0], 1), bos_id, dtype=np.int64)
                done = np.zeros(memory.shape[0], dtype=bool)
                for _ in range(max_len):
                    logits = self.decode(out, memory, src_key_mask=src_key_mask).data[:, -1]
                    nxt = logits.argmax(axis=-1)
                    if eos_id is not None:
                        nxt = np.where(done, eos_id, nxt)
                        done |= nxt == eos_id
                    out = np.concatenate([out, nxt[:, None]], axis=1)
        finally:
            self.train(was_training)
        return out[:, 1:]
