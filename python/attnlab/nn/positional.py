"""Positional encodings as modules: absolute ones added to the (B, L, C) embeddings
(SinusoidalPositionalEncoding, LearnedPositionalEmbedding) and relative ones that
MultiheadAttention applies inside attention (RotaryEmbedding, ALiBi, RelativePositionBias).

A relative encoding gives MultiheadAttention what the fused kernel needs through one method,
``attention_inputs(q, k, *, past=0) -> (q, k, kernel_arguments)`` (``past``: the tokens before
q and k, held in a KVCache): rotary turns q and k, ALiBi passes its
slopes (the kernel adds the bias in its tile loop, no Lq x Lk array), T5 passes its learned
(H, Lq, Lk) bias Tensor (its table gets gradients). The two that leave q and k alone are
ScoreTerms: ``score_terms(heads, lq, lk)`` gives their kernel arguments from the sizes alone,
so that attention may keep q, k and v packed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab import functional as F
from attnlab._allocation import reserve
from attnlab._validation import at_least, flag, positive, positive_int
from attnlab.nn import init
from attnlab.nn.embedding import Embedding
from attnlab.nn.module import Module
from attnlab.nn.parameter import Parameter
from attnlab.tensor import Tensor


def _positions(
    x: Tensor | np.ndarray, dim: int, offset: object, max_len: int, what: str
) -> tuple[int, int]:
    """(offset, L) of x (..., L, C), checked against the table's C and max_len."""
    if x.ndim < 2:
        raise ValueError(f"x: expected (B, L, C) or (L, C), got shape {x.shape}")
    if x.shape[-1] != dim:
        raise ValueError(
            f"x: axis -1 (C) has size {x.shape[-1]}, expected {what}={dim} (shape {x.shape})"
        )
    offset, length = at_least(offset, "offset", 0), x.shape[-2]
    if offset + length > max_len:
        raise ValueError(
            f"x: positions {offset}..{offset + length - 1} reach past max_len="
            f"{max_len} (the table's length); build the module with a larger max_len"
        )
    return offset, length


class SinusoidalPositionalEncoding(Module):
    """x + Vaswani et al.'s fixed table: forward(x (B, L, C), *, offset=0) adds the rows of
    positions offset, ..., offset + L - 1 (offset: the tokens already in a cache).

    The table (``pe``, (max_len, d_model)) is a non-persistent buffer: it is a function of the
    sizes only, so it stays out of ``state_dict`` (a checkpoint then loads whatever max_len the
    module was built with). PyTorch's tutorial registers it persistent, with a (max_len, 1, C)
    seq-first shape that no batch-first module could load anyway. ``double()``/``float()``
    convert it. Angles are computed in float64 and rounded once.
    """

    def __init__(
        self, d_model: int, max_len: int = 5000, *, base: float = 10000.0, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        self.d_model = positive_int(d_model, "d_model")
        self.max_len = positive_int(max_len, "max_len")
        self.base = positive(base, "base")
        reserve((self.max_len, self.d_model), what="a position table")
        table = F.sinusoidal_positional_encoding(
            self.max_len, self.d_model, base=self.base, dtype=dtype
        )
        self.register_buffer("pe", table, persistent=False)

    def forward(self, x: Tensor, *, offset: int = 0) -> Tensor:
        start, length = _positions(x, self.d_model, offset, self.max_len, "d_model")
        return x + self.pe[start : start + length]  # (B, L, C) + (L, C)

    def extra_repr(self) -> str:
        return f"{self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """x + a learned row per position (GPT-2's wpe): ``weight`` (max_positions, embedding_dim)
    ~ N(0, 1) as torch.nn.Embedding; forward(x (B, L, C), *, offset=0) adds rows offset, ...,
    offset + L - 1, whose gradients flow to ``weight``."""

    def __init__(self, max_positions: int, embedding_dim: int, *, dtype: Any = np.float32) -> None:
        super().__init__()
        self.max_positions = positive_int(max_positions, "max_positions")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim")
        self.weight = Parameter(init.empty((self.max_positions, self.embedding_dim), dtype))
        init.normal_(self.weight)

    def forward(self, x: Tensor, *, offset: int = 0) -> Tensor:
        start, length = _positions(
            x, self.embedding_dim, offset, self.max_positions, "embedding_dim"
        )
        return x + self.weight[start : start + length]  # (B, L, C) + (L, C)

    def extra_repr(self) -> str:
        return f"{self.max_positions}, {self.embedding_dim}"


class RotaryEmbedding(Module):
    """Rotary position embedding (RoFormer) of queries and keys (B, H, L, D), F.rope's options:
    ``base``, ``rotary_dim`` (features turned, default dim), ``interleaved`` pairs. No
    parameters or buffers (the kernel computes the angles in float64)."""

    def __init__(
        self,
        dim: int,
        *,
        base: float = 10000.0,
        rotary_dim: int | None = None,
        interleaved: bool = False,
    ) -> None:
        super().__init__()
        self.dim = positive_int(dim, "dim")
        self.base = positive(base, "base")
        rotary_dim = self.dim if rotary_dim is None else positive_int(rotary_dim, "rotary_dim")
        if rotary_dim % 2 or rotary_dim > self.dim:
            raise ValueError(
                f"rotary_dim: expected an even int <= dim={self.dim}, got {rotary_dim}"
            )
        self.rotary_dim = rotary_dim
        self.interleaved = flag(interleaved, "interleaved")

    def rotate(self, x: Tensor, *, offset: int = 0) -> Tensor:
        """x (..., L, D) turned as the tokens at positions offset, ..., offset + L - 1."""
        if x.ndim < 2 or x.shape[-1] != self.dim:
            raise ValueError(
                f"x: expected (..., L, D) with D = dim = {self.dim}, got shape {x.shape}"
            )
        offset = at_least(offset, "offset", 0)
        positions = np.arange(offset, offset + x.shape[-2]) if offset else None
        return F.rope(
            x, positions, base=self.base, rotary_dim=self.rotary_dim, interleaved=self.interleaved
        )

    def forward(self, q: Tensor, k: Tensor, *, offset: int = 0) -> tuple[Tensor, Tensor]:
        """q and k, both starting at position ``offset``."""
        return self.rotate(q, offset=offset), self.rotate(k, offset=offset)

    def attention_inputs(
        self, q: Tensor, k: Tensor, *, past: int = 0
    ) -> tuple[Tensor, Tensor, dict]:
        q, k = self(q, k, offset=past)
        return q, k, {}

    def extra_repr(self) -> str:
        return (
            f"{self.dim}, base={self.base}, rotary_dim={self.rotary_dim}, "
            f"interleaved={self.interleaved}"
        )


class ScoreTerms(Module):
    """A relative encoding that only adds to the scores (ALiBi, T5): its kernel arguments
    depend on the sizes, never on q or k."""

    def attention_inputs(
        self, q: Tensor, k: Tensor, *, past: int = 0
    ) -> tuple[Tensor, Tensor, dict]:
        return q, k, self.score_terms(q.shape[1], q.shape[2], past + k.shape[2], past=past)

    def score_terms(self, heads: int, lq: int, lk: int, *, past: int = 0) -> dict:
        """The kernel arguments for ``heads`` heads of queries at positions past, ..., past +
        lq - 1 over keys 0, ..., lk - 1 (past > 0: a cache, which the kernel aligns
        bottom-right)."""
        raise NotImplementedError


class ALiBi(ScoreTerms):
    """ALiBi (Press et al.): head h adds -slope_h * |j - i| to its scores, through the fused
    kernel's ``alibi_slopes=`` (no Lq x Lk bias is read). ``slopes`` (num_heads,) is a
    non-persistent buffer (a function of num_heads), converted by ``double()``/``float()``.
    Causal decoders get the paper's bias; bidirectional encoders the symmetric form."""

    def __init__(self, num_heads: int, *, dtype: Any = np.float32) -> None:
        super().__init__()
        self.num_heads = positive_int(num_heads, "num_heads")
        reserve((self.num_heads,), what="ALiBi's slopes")
        slopes = F.alibi_slopes(self.num_heads, dtype=dtype)
        self.register_buffer("slopes", slopes, persistent=False)

    def forward(self, lq: int, lk: int) -> np.ndarray:
        """The dense (H, Lq, Lk) bias the kernel applies (to look at it; attention never
        builds it)."""
        return F.alibi_bias(self.num_heads, lq, lk, dtype=self.slopes.dtype)

    def score_terms(self, heads: int, lq: int, lk: int, *, past: int = 0) -> dict:
        """What the kernel adds to the scores of ``heads`` heads: ``alibi_slopes`` (the
        kernel's alignment of the queries places them, whatever ``past``)."""
        if heads != self.num_heads:
            raise ValueError(
                f"q: axis 1 (H) has size {heads}, expected ALiBi's num_heads={self.num_heads}"
            )
        return {"alibi_slopes": self.slopes}

    def extra_repr(self) -> str:
        return f"{self.num_heads}"


class RelativePositionBias(ScoreTerms):
    """T5's learned relative-position bias: key j relative to query i falls in one of
    ``num_buckets`` log-spaced buckets (F.relative_position_bucket), each with a learned bias
    per head in ``relative_attention_bias`` = Embedding(num_buckets, num_heads), as in Hugging
    Face's T5Attention. forward(lq, lk) -> the (H, Lq, Lk) bias Tensor, through
    F.relative_position_bias so that the table gets gradients. The table starts ~ N(0, 1)
    (torch.nn.Embedding's default)."""

    def __init__(
        self,
        num_heads: int,
        num_buckets: int = 32,
        max_distance: int = 128,
        bidirectional: bool = True,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.num_heads = positive_int(num_heads, "num_heads")
        self.num_buckets = positive_int(num_buckets, "num_buckets")
        self.max_distance = positive_int(max_distance, "max_distance")
        self.bidirectional = flag(bidirectional, "bidirectional")
        F.relative_position_bucket(
            1,
            1,
            num_buckets=self.num_buckets,  # checks the options now
            max_distance=self.max_distance,
            bidirectional=self.bidirectional,
        )
        self.relative_attention_bias = Embedding(self.num_buckets, self.num_heads, dtype=dtype)
        self._buckets: tuple[tuple[int, int], np.ndarray] | None = None

    def buckets(self, lq: int, lk: int) -> np.ndarray:
        """(Lq, Lk) int64 bucket of each (query, key) pair; the last sizes' are kept."""
        if self._buckets is None or self._buckets[0] != (lq, lk):
            b = F.relative_position_bucket(
                lq,
                lk,
                num_buckets=self.num_buckets,
                max_distance=self.max_distance,
                bidirectional=self.bidirectional,
            )
            self._buckets = (lq, lk), b
        return self._buckets[1]

    def forward(self, lq: int, lk: int) -> Tensor:
        return F.relative_position_bias(self.relative_attention_bias.weight, self.buckets(lq, lk))

    def score_terms(self, heads: int, lq: int, lk: int, *, past: int = 0) -> dict:
        """What the kernel adds to the scores of ``heads`` heads: the (H, Lq, Lk) ``bias``,
        the rows of queries past, ..., past + lq - 1."""
        if heads != self.num_heads:
            raise ValueError(
                f"q: axis 1 (H) has size {heads}, expected "
                f"RelativePositionBias's num_heads={self.num_heads}"
            )
        return {"bias": self(past + lq, lk)[:, past:] if past else self(lq, lk)}

    def extra_repr(self) -> str:
        return (
            f"{self.num_heads}, num_buckets={self.num_buckets}, max_distance="
            f"{self.max_distance}, bidirectional={self.bidirectional}"
        )
