"""EncoderClassifier: a transformer encoder with a classification head, per sequence (a
learned [CLS] vector or mean pooling over real tokens) or per token."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from attnlab import nn
from attnlab.models._embed import POSITIONS, TokenEmbedding, check_sizes, key_mask_array, token_ids
from attnlab.tensor import Tensor, cat

_POOLING = ("cls", "mean", "none")


@dataclass(frozen=True)
class EncoderClassifierConfig:
    vocab_size: int
    num_classes: int
    max_len: int
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    d_ff: int | None = None  # default 4 * d_model
    dropout: float = 0.0
    pooling: str = "cls"
    positions: str = "learned"
    activation: str = "gelu"

    def __post_init__(self) -> None:
        check_sizes(self, ("vocab_size", "num_classes", "max_len", "n_layer", "n_head", "d_model"))
        if self.pooling not in _POOLING:
            raise ValueError(f"pooling: expected one of {_POOLING}, got {self.pooling!r}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions: expected one of {POSITIONS}, got {self.positions!r}")


class EncoderClassifier(nn.Module):
    """``model(idx, key_mask=None)``: idx (B, T) ints -> logits (B, num_classes), or
    (B, T, num_classes) with ``pooling="none"`` (a label per token).

    Pre-norm encoder layers (``nn.TransformerEncoderLayer(norm_first=True)``), named as torch's
    (``encoder.layers.0.self_attn`` ...). ``key_mask`` (B, T) bool, True = real token:
    padding is neither attended to nor pooled.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        *,
        max_len: int,
        n_layer: int = 2,
        n_head: int = 4,
        d_model: int = 64,
        d_ff: int | None = None,
        dropout: float = 0.0,
        pooling: str = "cls",
        positions: str = "learned",
        activation: str = "gelu",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        c = EncoderClassifierConfig(
            vocab_size,
            num_classes,
            max_len,
            n_layer,
            n_head,
            d_model,
            d_ff,
            dropout,
            pooling,
            positions,
            activation,
        )
        self.config = c
        extra = 1 if c.pooling == "cls" else 0
        self.embed = TokenEmbedding(
            c.vocab_size, c.d_model, c.max_len + extra, c.positions, c.dropout, dtype
        )
        if c.pooling == "cls":
            self.cls_token = nn.Parameter(np.zeros((1, 1, c.d_model), dtype=dtype))
            nn.init.normal_(self.cls_token, 0.0, 0.02)
        layer = nn.TransformerEncoderLayer(
            c.d_model,
            c.n_head,
            c.d_ff or 4 * c.d_model,
            c.dropout,
            activation=c.activation,
            norm_first=True,
            batch_first=True,
            dtype=dtype,
        )
        self.encoder = nn.TransformerEncoder(
            layer, c.n_layer, norm=nn.LayerNorm(c.d_model, dtype=dtype)
        )
        self.head = nn.Linear(c.d_model, c.num_classes, dtype=dtype)

    @classmethod
    def from_config(
        cls, config: EncoderClassifierConfig, *, dtype: Any = np.float32
    ) -> EncoderClassifier:
        return cls(**asdict(config), dtype=dtype)

    def forward(self, idx: np.ndarray | Tensor, key_mask: np.ndarray | None = None) -> Tensor:
        idx = token_ids(idx, "idx", self.config.vocab_size)
        b, t = idx.shape
        key_mask = key_mask_array(key_mask, (b, t), "key_mask")
        pooling = self.config.pooling
        if pooling == "cls":
            x = self.embed.tok(idx) * self.embed.scale  # (B, T, C)
            cls = self.cls_token.expand(b, 1, self.config.d_model)  # (B, 1, C)
            x = cat([cls, x], axis=1)  # (B, 1 + T, C)
            x = self.embed.drop(x + self._positions(t + 1))
            if key_mask is not None:
                key_mask = np.concatenate([np.ones((b, 1), bool), key_mask], axis=1)
        else:
            x = self.embed(idx)  # (B, T, C)
        h = self.encoder(x, key_mask=key_mask)  # (B, T', C)
        if pooling == "cls":
            return self.head(h[:, 0])  # (B, K)
        if pooling == "none":
            return self.head(h)  # (B, T, K)
        if key_mask is None:
            pooled = h.mean(axis=1)
        else:
            weights = key_mask[..., None].astype(h.dtype)  # (B, T, 1)
            pooled = (h * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1)
        return self.head(pooled)  # (B, K)

    def _positions(self, t: int) -> Tensor | np.ndarray:
        e = self.embed
        return e.pos(np.arange(t)) if e.pos is not None else e.table[:t]
