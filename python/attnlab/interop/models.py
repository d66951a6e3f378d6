"""attnlab's models as plain torch.nn modules: TorchGPT, TorchEncoderClassifier and
TorchSeq2Seq compute what GPT, EncoderClassifier and Seq2Seq compute, with the same submodule
and parameter names (so the state_dicts are the same arrays), on torch's own layers and
``scaled_dot_product_attention``. :func:`attnlab.interop.to_torch` builds them from an attnlab
model and copies its weights; :func:`attnlab.interop.from_torch` goes back. Built directly
from a config, they start with torch's default initialisation (not the attnlab models').

Inputs are torch tensors on the module's device: token ids (B, T) int64, and ``key_mask``
(B, T) bool, True = real token, as the attnlab models take it (torch's layers get its
negation as their ``key_padding_mask``).
"""

from __future__ import annotations

import math

from attnlab.functional import alibi_slopes, sinusoidal_positional_encoding
from attnlab.interop._torch import functional as F
from attnlab.interop._torch import nn, torch
from attnlab.models import EncoderClassifierConfig, GPTConfig, Seq2SeqConfig

__all__ = ["TorchEncoderClassifier", "TorchGPT", "TorchSeq2Seq"]


class _LastTable:
    """The last (T, device, dtype) table a position module built, kept for the next call."""

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.value: tuple[torch.Tensor, ...] = ()

    def get(self, key: tuple, build) -> tuple[torch.Tensor, ...]:
        if key != self.key:
            self.key, self.value = key, build()
        return self.value


class TorchRotary(nn.Module):
    """attnlab's RotaryEmbedding: pair k of the first ``rotary_dim`` features of the row at
    position p turned by p * base^(-2k / rotary_dim); pairs (k, k + rotary_dim/2), or (2k,
    2k + 1) when ``interleaved``. Angles in float64 on the host, as attnlab's kernel."""

    def __init__(
        self,
        dim: int,
        *,
        base: float = 10000.0,
        rotary_dim: int | None = None,
        interleaved: bool = False,
    ) -> None:
        super().__init__()
        self.dim, self.base = dim, base
        self.rotary_dim = dim if rotary_dim is None else rotary_dim
        self.interleaved = interleaved
        self._table = _LastTable()

    def _cos_sin(self, t: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def build():
            half = self.rotary_dim // 2
            k = torch.arange(half, dtype=torch.float64)
            inv_freq = self.base ** (-2.0 * k / self.rotary_dim)
            angles = torch.arange(t, dtype=torch.float64)[:, None] * inv_freq  # (T, rd / 2)
            return angles.cos().to(x.device, x.dtype), angles.sin().to(x.device, x.dtype)

        key = (t, self.base, self.rotary_dim, x.device, x.dtype)
        return self._table.get(key, build)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, T, D)
        rd, half = self.rotary_dim, self.rotary_dim // 2
        cos, sin = self._cos_sin(x.shape[-2], x)
        if self.interleaved:
            x1, x2 = x[..., 0:rd:2], x[..., 1:rd:2]
        else:
            x1, x2 = x[..., :half], x[..., half:rd]
        r1, r2 = x1 * cos - x2 * sin, x1 * sin + x2 * cos  # (B, H, T, rd / 2)
        if self.interleaved:
            turned = torch.stack([r1, r2], dim=-1).flatten(-2)  # (B, H, T, rd)
        else:
            turned = torch.cat([r1, r2], dim=-1)  # (B, H, T, rd)
        return torch.cat([turned, x[..., rd:]], dim=-1)  # (B, H, T, D)


class TorchALiBi(nn.Module):
    """attnlab's ALiBi in a causal decoder: head h adds -slope_h * (i - j) to the score of
    query i and key j <= i; later keys get -inf."""

    def __init__(self, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self._table = _LastTable()

    def causal_bias(self, t: int, like: torch.Tensor) -> torch.Tensor:
        """(H, T, T) additive mask, in float64 on the host and then like's dtype."""

        def build():
            slopes = torch.from_numpy(alibi_slopes(self.num_heads))  # (H,) float64
            pos = torch.arange(t, dtype=torch.float64)
            distance = pos[:, None] - pos[None, :]  # (T, T): i - j
            bias = -slopes[:, None, None] * distance  # (H, T, T)
            bias = bias.masked_fill(distance < 0, -math.inf)
            return (bias.to(like.device, like.dtype),)

        return self._table.get((t, like.device, like.dtype), build)[0]


class TorchCausalSelfAttention(nn.Module):
    """attnlab's MultiheadAttention as GPT uses it (causal self-attention, optional rotary or
    ALiBi positions): ``in_proj_weight`` (3C, C), ``in_proj_bias``, ``out_proj``, as
    torch.nn.MultiheadAttention names them; attention dropout while training."""

    def __init__(self, d_model: int, n_head: int, dropout: float, positions: str) -> None:
        super().__init__()
        self.embed_dim, self.num_heads, self.dropout = d_model, n_head, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)
        if positions == "rotary":
            self.positions = TorchRotary(d_model // n_head)
        elif positions == "alibi":
            self.positions = TorchALiBi(n_head)
        else:
            self.positions = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        b, t, c = x.shape
        h = self.num_heads
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).split(c, dim=2)
        q, k, v = (y.view(b, t, h, c // h).transpose(1, 2) for y in (q, k, v))  # (B, H, T, D)
        dropout_p = self.dropout if self.training else 0.0
        if isinstance(self.positions, TorchRotary):
            q, k = self.positions(q), self.positions(k)
        if isinstance(self.positions, TorchALiBi):
            bias = self.positions.causal_bias(t, q)  # (H, T, T)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)
        else:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout_p)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, c))  # (B, T, C)


class TorchMLP(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        hidden = c.d_ff or 4 * c.d_model
        self.c_fc = nn.Linear(c.d_model, hidden)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(hidden, c.d_model)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class TorchBlock(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(c.d_model)
        positions = None if c.positions == "learned" else c.positions
        self.attn = TorchCausalSelfAttention(c.d_model, c.n_head, c.dropout, positions)
        self.dropout = nn.Dropout(c.dropout)
        self.ln_2 = nn.LayerNorm(c.d_model) if c.mlp else None
        self.mlp = TorchMLP(c) if c.mlp else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        x = x + self.dropout(self.attn(self.ln_1(x)))
        if self.mlp is not None:
            x = x + self.mlp(self.ln_2(x))
        return x


class TorchGPT(nn.Module):
    """attnlab.models.GPT in torch: ``model(idx)``, idx (B, T) int64 with T <= block_size ->
    logits (B, T, vocab_size). ``config`` is the GPT's GPTConfig."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config: expected a GPTConfig, got {type(config).__name__}")
        c = self.config = config
        self.wte = nn.Embedding(c.vocab_size, c.d_model)
        self.wpe = nn.Embedding(c.block_size, c.d_model) if c.positions == "learned" else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(TorchBlock(c) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.d_model)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.config.block_size:
            raise ValueError(
                f"idx: sequence length {t} exceeds block_size {self.config.block_size}"
            )
        x = self.wte(idx)  # (B, T, C)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(t, device=idx.device))  # (T, C) broadcast over B
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))  # (B, T, V)


class TorchTokenEmbedding(nn.Module):
    """attnlab's TokenEmbedding: token vectors times sqrt(d_model) plus learned or sinusoidal
    positions (the table a non-persistent buffer, attnlab's float32 values)."""

    def __init__(
        self, vocab_size: int, d_model: int, max_len: int, positions: str, dropout: float
    ) -> None:
        super().__init__()
        self.max_len, self.scale = max_len, float(math.sqrt(d_model))
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model) if positions == "learned" else None
        if self.pos is None:
            table = torch.from_numpy(sinusoidal_positional_encoding(max_len, d_model))
            self.register_buffer("table", table, persistent=False)
        self.drop = nn.Dropout(dropout)

    def positions(self, t: int, device: torch.device) -> torch.Tensor:  # (T, C)
        return self.pos(torch.arange(t, device=device)) if self.pos is not None else self.table[:t]

    def forward(self, idx: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, C)
        t = idx.shape[1]
        if t > self.max_len:
            raise ValueError(f"idx: sequence length {t} exceeds max_len {self.max_len}")
        return self.drop(self.tok(idx) * self.scale + self.positions(t, idx.device))


def _pre_norm_layer(
    d_model: int, n_head: int, d_ff: int, dropout: float, activation: str, layer: type
) -> nn.Module:
    """A pre-norm torch layer of attnlab's models' settings."""
    return layer(d_model, n_head, d_ff, dropout, activation, batch_first=True, norm_first=True)


def _padding(key_mask: torch.Tensor | None) -> torch.Tensor | None:
    """torch's key_padding_mask (True = pad) of a key_mask (True = real token)."""
    return None if key_mask is None else ~key_mask


class TorchEncoderClassifier(nn.Module):
    """attnlab.models.EncoderClassifier in torch: ``model(idx, key_mask=None)`` -> logits
    (B, num_classes), or (B, T, num_classes) with pooling "none"."""

    def __init__(self, config: EncoderClassifierConfig) -> None:
        super().__init__()
        if not isinstance(config, EncoderClassifierConfig):
            raise TypeError(
                f"config: expected an EncoderClassifierConfig, got {type(config).__name__}"
            )
        c = self.config = config
        extra = 1 if c.pooling == "cls" else 0
        self.embed = TorchTokenEmbedding(
            c.vocab_size, c.d_model, c.max_len + extra, c.positions, c.dropout
        )
        if c.pooling == "cls":
            self.cls_token = nn.Parameter(torch.zeros(1, 1, c.d_model))
        layer = _pre_norm_layer(
            c.d_model,
            c.n_head,
            c.d_ff or 4 * c.d_model,
            c.dropout,
            c.activation,
            nn.TransformerEncoderLayer,
        )
        # Without nested tensors: padded positions are computed (not zeroed), as in attnlab.
        self.encoder = nn.TransformerEncoder(
            layer, c.n_layer, norm=nn.LayerNorm(c.d_model), enable_nested_tensor=False
        )
        self.head = nn.Linear(c.d_model, c.num_classes)

    def forward(self, idx: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, t = idx.shape
        pooling = self.config.pooling
        if pooling == "cls":
            e = self.embed
            x = e.tok(idx) * e.scale  # (B, T, C)
            x = torch.cat([self.cls_token.expand(b, 1, -1), x], dim=1)  # (B, 1 + T, C)
            x = e.drop(x + e.positions(t + 1, idx.device))
            if key_mask is not None:
                key_mask = torch.cat([key_mask.new_ones(b, 1), key_mask], dim=1)
        else:
            x = self.embed(idx)  # (B, T, C)
        h = self.encoder(x, src_key_padding_mask=_padding(key_mask))  # (B, T', C)
        if pooling == "cls":
            return self.head(h[:, 0])  # (B, K)
        if pooling == "none":
            return self.head(h)  # (B, T, K)
        if key_mask is None:
            pooled = h.mean(dim=1)
        else:
            weights = key_mask[..., None].to(h.dtype)  # (B, T, 1)
            pooled = (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
        return self.head(pooled)  # (B, K)


class TorchSeq2Seq(nn.Module):
    """attnlab.models.Seq2Seq in torch: ``model(src, tgt, *, src_key_mask=None,
    tgt_key_mask=None)`` -> logits (B, T, tgt_vocab_size); ``encode`` and ``decode`` as the
    attnlab model's."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(f"config: expected a Seq2SeqConfig, got {type(config).__name__}")
        c = self.config = config
        embed_args = (c.d_model, c.max_len, c.positions, c.dropout)
        self.src_embed = TorchTokenEmbedding(c.src_vocab_size, *embed_args)
        self.tgt_embed = TorchTokenEmbedding(c.tgt_vocab_size, *embed_args)
        layer_args = (c.d_model, c.n_head, c.d_ff or 4 * c.d_model, c.dropout, c.activation)
        encoder = nn.TransformerEncoder(
            _pre_norm_layer(*layer_args, nn.TransformerEncoderLayer),
            c.n_layer,
            nn.LayerNorm(c.d_model),
            enable_nested_tensor=False,
        )
        decoder = nn.TransformerDecoder(
            _pre_norm_layer(*layer_args, nn.TransformerDecoderLayer),
            c.n_layer,
            nn.LayerNorm(c.d_model),
        )
        self.transformer = nn.Transformer(
            c.d_model, c.n_head, custom_encoder=encoder, custom_decoder=decoder, batch_first=True
        )
        self.generator = nn.Linear(c.d_model, c.tgt_vocab_size)

    def encode(self, src: torch.Tensor, src_key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The memory (B, S, C) the decoder attends to."""
        return self.transformer.encoder(
            self.src_embed(src), src_key_padding_mask=_padding(src_key_mask)
        )

    def decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        *,
        src_key_mask: torch.Tensor | None = None,
        tgt_key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next-token logits (B, T, V) for decoder input tgt (B, T) given the memory."""
        t = tgt.shape[1]
        future = torch.ones(t, t, dtype=torch.bool, device=tgt.device).triu(1)  # True = masked
        h = self.transformer.decoder(
            self.tgt_embed(tgt),
            memory,
            tgt_mask=future,
            tgt_key_padding_mask=_padding(tgt_key_mask),
            memory_key_padding_mask=_padding(src_key_mask),
        )
        return self.generator(h)  # (B, T, V)

    def forward(
        self,
        src: torch.Tensor,
        tgt: torch.Tensor,
        *,
        src_key_mask: torch.Tensor | None = None,
        tgt_key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        memory = self.encode(src, src_key_mask)
        return self.decode(tgt, memory, src_key_mask=src_key_mask, tgt_key_mask=tgt_key_mask)
