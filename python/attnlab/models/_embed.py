"""What the models share: token embedding plus positions, and the checks of their inputs and
configs."""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab import nn
from attnlab._allocation import reserve
from attnlab._validation import at_least, int_array
from attnlab.functional import sinusoidal_positional_encoding
from attnlab.tensor import Tensor

POSITIONS = ("learned", "sinusoidal")


class TokenEmbedding(nn.Module):
    """Token vectors times sqrt(d_model) (Vaswani et al.) plus learned or sinusoidal positions."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        max_len: int,
        positions: str,
        dropout: float,
        dtype: Any,
    ) -> None:
        super().__init__()
        if positions not in POSITIONS:
            raise ValueError(f"positions: expected one of {POSITIONS}, got {positions!r}")
        self.max_len, self.scale = max_len, float(np.sqrt(d_model))
        self.tok = nn.Embedding(vocab_size, d_model, dtype=dtype)
        nn.init.normal_(self.tok.weight, 0.0, 1.0 / self.scale)
        if positions == "learned":
            self.pos = nn.Embedding(max_len, d_model, dtype=dtype)
            nn.init.normal_(self.pos.weight, 0.0, 0.02)
        else:
            self.pos = None
            reserve((max_len, d_model), what="a position table")
            table = sinusoidal_positional_encoding(max_len, d_model).astype(dtype)
            self.register_buffer("table", table, persistent=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, idx: np.ndarray) -> Tensor:  # (B, T) ints -> (B, T, C)
        t = idx.shape[1]
        if t > self.max_len:
            raise ValueError(f"idx: sequence length {t} exceeds max_len {self.max_len}")
        x = self.tok(idx) * self.scale
        x = x + (self.pos(np.arange(t)) if self.pos is not None else self.table[:t])
        return self.drop(x)


def token_ids(idx: Any, name: str, vocab_size: int, vocab_name: str = "vocab_size") -> np.ndarray:
    """(B, T) token ids as int64 (an explicit conversion of other integer dtypes): TypeError
    for a non-array or a non-integer dtype, ValueError for another ndim or an id outside
    [0, vocab_size)."""
    ids = int_array(idx.data if isinstance(idx, Tensor) else idx, name)
    if ids.ndim != 2:
        raise ValueError(f"{name}: expected 2 dimensions (B, T), got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        bad = ids[(ids < 0) | (ids >= vocab_size)][0]
        raise ValueError(f"{name}: {int(bad)} is out of range [0, {vocab_name}={vocab_size})")
    return ids


def key_mask_array(key_mask: Any, shape: tuple[int, int], name: str) -> np.ndarray | None:
    if key_mask is None:
        return None
    key_mask = key_mask.data if isinstance(key_mask, Tensor) else key_mask
    if not isinstance(key_mask, np.ndarray) or key_mask.dtype != np.bool_:
        raise TypeError(
            f"{name}: expected a bool array (True = real token), got "
            f"{getattr(key_mask, 'dtype', type(key_mask).__name__)}"
        )
    if key_mask.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {key_mask.shape}")
    return key_mask


def check_sizes(config: object, names: tuple[str, ...]) -> None:
    """Each named field of a model config is an int >= 1; ValueError naming the first that is
    not."""
    for name in names:
        at_least(getattr(config, name), name, 1)
