"""GPT: a decoder-only transformer language model, after nanoGPT's model.py.

Pre-norm blocks (x + attn(ln_1(x)), then x + mlp(ln_2(x))), causal self-attention on the
fused kernel, learned, rotary or ALiBi positions, the output head optionally tied to the token
embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from attnlab import nn
from attnlab._validation import at_least, flag, real_number
from attnlab.autograd import no_grad
from attnlab.functional import softmax
from attnlab.models._embed import check_sizes, token_ids
from attnlab.nn.fused_layer import fused_forward
from attnlab.tensor import Tensor

_POSITIONS = ("learned", "rotary", "alibi")


@dataclass(frozen=True)
class GPTConfig:
    """Everything that rebuilds a GPT: ``GPT(**asdict(config))``."""

    vocab_size: int
    block_size: int
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    dropout: float = 0.0
    positions: str = "learned"
    tie_weights: bool = True
    mlp: bool = True  # False: an attention-only transformer (the induction-head papers' model)
    d_ff: int | None = None  # default 4 * d_model

    def __post_init__(self) -> None:
        check_sizes(self, ("vocab_size", "block_size", "n_layer", "n_head", "d_model"))
        if self.d_model % self.n_head:
            raise ValueError(f"d_model: {self.d_model} is not divisible by n_head={self.n_head}")
        if self.positions not in _POSITIONS:
            raise ValueError(f"positions: expected one of {_POSITIONS}, got {self.positions!r}")


class MLP(nn.Module):
    def __init__(self, c: GPTConfig, dtype: Any) -> None:
        super().__init__()
        hidden = c.d_ff or 4 * c.d_model
        self.c_fc = nn.Linear(c.d_model, hidden, dtype=dtype)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(hidden, c.d_model, dtype=dtype)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, C)
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, c: GPTConfig, dtype: Any) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(c.d_model, dtype=dtype)
        positions = None if c.positions == "learned" else c.positions
        self.attn = nn.MultiheadAttention(
            c.d_model, c.n_head, dropout=c.dropout, positions=positions, dtype=dtype
        )
        self.dropout = nn.Dropout(c.dropout)
        if c.mlp:
            self.ln_2 = nn.LayerNorm(c.d_model, dtype=dtype)
            self.mlp = MLP(c, dtype)
        else:
            self.ln_2 = self.mlp = None

    def forward(self, x: Tensor, cache: nn.KVCache | None = None) -> Tensor:  # (B, T, C)
        # The block as one call into the core (one node of the graph), when its parts are.
        mlp = self.mlp
        fused = fused_forward(
            x,
            self.attn,
            self.ln_1,
            None if mlp is None else (mlp.c_fc, mlp.gelu, mlp.c_proj),
            self.ln_2,
            (self.dropout, None, None if mlp is None else mlp.dropout),
            norm_first=True,
            is_causal=True,
            cache=cache,
        )
        if fused is not None:
            return fused
        x = x + self.dropout(self.attn(self.ln_1(x), is_causal=True, cache=cache))
        if self.mlp is not None:
            x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    """A GPT over token ids: ``model(idx)`` with idx (B, T) ints, T <= block_size, gives
    logits (B, T, vocab_size) for the next token at every position.

    >>> model = GPT(vocab_size=12, block_size=16, n_layer=2, n_head=2, d_model=32)
    >>> model(np.zeros((4, 16), np.int64)).shape
    (4, 16, 12)
    """

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        *,
        n_layer: int = 2,
        n_head: int = 4,
        d_model: int = 64,
        dropout: float = 0.0,
        positions: str = "learned",
        tie_weights: bool = True,
        mlp: bool = True,
        d_ff: int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        c = GPTConfig(
            vocab_size,
            block_size,
            n_layer,
            n_head,
            d_model,
            dropout,
            positions,
            tie_weights,
            mlp,
            d_ff,
        )
        self.config = c
        self.wte = nn.Embedding(c.vocab_size, c.d_model, dtype=dtype)
        self.wpe = (
            nn.Embedding(c.block_size, c.d_model, dtype=dtype) if c.positions == "learned" else None
        )
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList([Block(c, dtype) for _ in range(c.n_layer)])
        self.ln_f = nn.LayerNorm(c.d_model, dtype=dtype)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False, dtype=dtype)
        self._init_weights()
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight

    def _init_weights(self) -> None:
        # nanoGPT's: N(0, 0.02) for weights and embeddings, zero biases, and the residual
        # projections scaled by 1 / sqrt(2 n_layer) (GPT-2).
        for name, p in self.named_parameters():
            if name.endswith("bias") or p.ndim < 2:
                continue
            std = 0.02
            if name.endswith("c_proj.weight") or name.endswith("out_proj.weight"):
                std /= np.sqrt(2 * self.config.n_layer)
            nn.init.normal_(p, 0.0, std)

    @classmethod
    def from_config(cls, config: GPTConfig, *, dtype: Any = np.float32) -> GPT:
        return cls(**asdict(config), dtype=dtype)

    def forward(
        self, idx: np.ndarray | Tensor, *, cache: Sequence[nn.KVCache] | None = None
    ) -> Tensor:
        """Logits (B, T, V) of idx (B, T).

        ``cache``: one :class:`~attnlab.nn.KVCache` per block (``model.new_cache()``) holding
        the keys and values of the tokens before idx, which idx continues: its positions start
        at the cache's length (at most block_size in all), and its keys and values are added
        to the cache.
        """
        idx = token_ids(idx, "idx", self.config.vocab_size)
        past = 0 if cache is None else self._cached_length(cache)
        t = idx.shape[1]
        if past + t > self.config.block_size:
            what = f"sequence length {t}" + (f" after {past} cached tokens" if past else "")
            raise ValueError(f"idx: {what} exceeds block_size {self.config.block_size}")
        x = self.wte(idx)  # (B, T, C)
        if self.wpe is not None:
            x = x + self.wpe(np.arange(past, past + t))  # (T, C) broadcast over B
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, None if cache is None else cache[i])
        return self.lm_head(self.ln_f(x))  # (B, T, V)

    def new_cache(self) -> list[nn.KVCache]:
        """An empty key/value cache for :meth:`forward`: one KVCache per block."""
        return [nn.KVCache() for _ in self.blocks]

    def _cached_length(self, cache: Sequence[nn.KVCache]) -> int:
        if (
            not isinstance(cache, Sequence)
            or len(cache) != len(self.blocks)
            or not all(isinstance(c, nn.KVCache) for c in cache)
        ):
            raise TypeError(
                f"cache: expected a sequence of {len(self.blocks)} KVCaches, one per "
                f"block (model.new_cache()), got {type(cache).__name__}"
            )
        lengths = {len(c) for c in cache}
        if len(lengths) != 1:
            raise ValueError(f"cache: its blocks hold different lengths {sorted(lengths)}")
        return lengths.pop()

    def generate(
        self,
        idx: np.ndarray,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        use_cache: bool = True,
    ) -> np.ndarray:
        """Continues each row of ``idx`` (B, T) by ``max_new_tokens`` sampled tokens.

        temperature 0 is greedy (argmax); ``top_k`` keeps the k likeliest tokens; the same seed
        gives the same continuation. Runs in eval mode under no_grad, then restores the mode.

        With ``use_cache`` (the default), each block keeps its keys and values
        (:class:`~attnlab.nn.KVCache`), so that a step runs only the newest token; the
        tokens are those of ``use_cache=False``, which runs the whole context at every
        step. Once the context outgrows block_size, both run its last block_size tokens at
        every step: their positions have all moved, so nothing cached still holds.
        """
        idx = token_ids(idx, "idx", self.config.vocab_size)
        max_new_tokens = at_least(max_new_tokens, "max_new_tokens", 0)
        temperature = real_number(temperature, "temperature")
        if temperature < 0:
            raise ValueError(f"temperature: expected a number >= 0, got {temperature}")
        if top_k is not None:
            top_k = at_least(top_k, "top_k", 1)
        use_cache = flag(use_cache, "use_cache")
        rng = np.random.default_rng(seed)
        was_training = self.training
        self.eval()
        out = idx.astype(np.int64)
        block_size = self.config.block_size
        cache = self.new_cache() if use_cache else None
        try:
            with no_grad():
                for _ in range(max_new_tokens):
                    if cache is not None and out.shape[1] <= block_size:
                        # The tokens the cache has not seen yet: the prompt, then one a step.
                        logits = self(out[:, len(cache[0]) :], cache=cache).data[:, -1, :]  # (B, V)
                    else:
                        logits = self(out[:, -block_size:]).data[:, -1, :]
                    token = _sample(logits, temperature, top_k, rng)[:, None]  # (B, 1)
                    out = np.concatenate([out, token], axis=1)
        finally:
            self.train(was_training)
        return out


def _sample(
    logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator
) -> np.ndarray:
    """One token id per row of logits (B, V)."""
    if temperature == 0:
        return logits.argmax(axis=-1)
    logits = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = np.partition(logits, -top_k, axis=-1)[:, -top_k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = softmax(logits)
    u = rng.random((logits.shape[0], 1))
    return np.minimum((probs.cumsum(axis=-1) < u).sum(axis=-1), logits.shape[-1] - 1)
