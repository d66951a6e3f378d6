"""MultiheadAttention: torch.nn.MultiheadAttention's arguments and parameter names, batch-first,
on the fused attention kernel, which also gives the per-head weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab import functional as F
from attnlab._validation import bool_array, flag, positive_int, real_number
from attnlab.functional.attention import packed_heads, packed_self_attention
from attnlab.nn import init
from attnlab.nn.feedforward import check_batch_first
from attnlab.nn.kv_cache import KVCache
from attnlab.nn.linear import Linear
from attnlab.nn.module import Module
from attnlab.nn.parameter import Parameter
from attnlab.nn.positional import ALiBi, RelativePositionBias, RotaryEmbedding, ScoreTerms
from attnlab.nn.recording import RecordsAttention
from attnlab.tensor import Tensor, cat

_POSITIONS = ("rotary", "alibi", "t5")


class MultiheadAttention(RecordsAttention, Module):
    """Multi-head attention as torch.nn.MultiheadAttention, batch-first: query (B, Lq, C),
    key (B, Lk, kdim), value (B, Lk, vdim) -> (B, Lq, C).

    Parameters (torch's names, so torch's state_dict loads): ``in_proj_weight`` (3C, C) when
    kdim == vdim == C and every head has its own keys; else ``q_proj_weight`` (C, C),
    ``k_proj_weight`` (Hkv D, kdim), ``v_proj_weight`` (Hkv D, vdim). ``in_proj_bias`` holds
    the q, k, v biases in that order ((C + 2 Hkv D,), torch's (3C,)); ``out_proj`` is a
    Linear(C, C); ``bias_k``, ``bias_v`` (1, 1, Hkv D) with ``add_bias_kv``. Initialization as
    torch: xavier_uniform_ projections, zero biases, xavier_normal_ bias_k/bias_v, out_proj's
    weight as a Linear's.

    Beyond torch: ``num_kv_heads`` (grouped-query attention: keys and values have that many
    heads, each shared by num_heads / num_kv_heads query heads; the separate-weight layout
    then, as kdim/vdim) and ``positions``: None, a RotaryEmbedding, ALiBi or
    RelativePositionBias module (registered as the ``positions`` submodule), or "rotary",
    "alibi", "t5" for a default one. ``batch_first`` exists for torch's signature: only True.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = True,
        *,
        num_kv_heads: int | None = None,
        positions: Module | str | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.embed_dim, self.num_heads, self.num_kv_heads = head_counts(
            embed_dim, num_heads, num_kv_heads
        )
        dropout = real_number(dropout, "dropout")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected 0 <= dropout < 1, got {dropout}")
        check_batch_first(batch_first)
        self.dropout = dropout
        self.head_dim = self.embed_dim // self.num_heads
        self.kdim = self.embed_dim if kdim is None else positive_int(kdim, "kdim")
        self.vdim = self.embed_dim if vdim is None else positive_int(vdim, "vdim")
        self.batch_first = True
        self.add_zero_attn = flag(add_zero_attn, "add_zero_attn")
        bias = flag(bias, "bias")
        c, kv = self.embed_dim, self.num_kv_heads * self.head_dim
        self._qkv_same_embed_dim = (
            self.kdim == self.vdim == c and self.num_kv_heads == self.num_heads
        )
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(init.empty((3 * c, c), dtype))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(init.empty((c, c), dtype))
            self.k_proj_weight = Parameter(init.empty((kv, self.kdim), dtype))
            self.v_proj_weight = Parameter(init.empty((kv, self.vdim), dtype))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(init.empty((c + 2 * kv,), dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(c, c, bias=bias, dtype=dtype)
        if flag(add_bias_kv, "add_bias_kv"):
            self.bias_k = Parameter(init.empty((1, 1, kv), dtype))
            self.bias_v = Parameter(init.empty((1, 1, kv), dtype))
        else:
            self.bias_k = self.bias_v = None
            self.register_parameter("bias_k", None)
            self.register_parameter("bias_v", None)
        self.positions = _positions_module(positions, self.num_heads, self.head_dim, dtype)
        if self.positions is not None and (self.bias_k is not None or self.add_zero_attn):
            raise ValueError(
                "positions: cannot be combined with add_bias_kv or add_zero_attn "
                "(their extra key has no position)"
            )
        self._head_mask: np.ndarray | None = None
        self._reset_parameters()

    @property
    def head_mask(self) -> np.ndarray | None:
        """None (the default: no cost), or (num_heads,) multipliers of each head's output
        (B, H, Lq, D) before ``out_proj``: 0 removes a head (what
        :func:`attnlab.interpret.ablate_heads` sets and restores), 1 keeps it bitwise as it
        is. Set it from a bool, int or float sequence; it is kept in the module's dtype."""
        return None if self._head_mask is None else self._head_mask.reshape(-1).copy()

    @head_mask.setter
    def head_mask(self, mask: Any) -> None:
        if mask is None:
            self._head_mask = None
            return
        mask = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
        if mask.dtype.kind not in "biuf":
            raise TypeError(
                f"head_mask: expected bool, int or float multipliers, got dtype {mask.dtype}"
            )
        if mask.shape != (self.num_heads,):
            raise ValueError(
                f"head_mask: expected shape (num_heads,) = ({self.num_heads},), got {mask.shape}"
            )
        if not np.isfinite(mask).all():
            raise ValueError("head_mask: expected finite multipliers")
        self._head_mask = mask.astype(self.out_proj.weight.dtype).reshape(1, -1, 1, 1)

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    # ---- forward ----------------------------------------------------------------------------
    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        mask: np.ndarray | None = None,
        key_mask: np.ndarray | None = None,
        is_causal: bool = False,
        return_weights: bool = False,
        cache: KVCache | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attention of query over key/value (self-attention when key and value are None or
        query itself).

        Args:
            query: (B, Lq, C). key: (B, Lk, kdim), default query. value: (B, Lk, vdim),
                default key.
            mask: bool, broadcastable to (B, H, Lq, Lk), True = may attend ((Lq, Lk) for all).
            key_mask: (B, Lk) bool or 0/1 ints, True/1 = a real token (a tokenizer's
                attention_mask); torch's key_padding_mask is its negation.
            is_causal: query i sees keys j <= i (top-left aligned); combines with the masks.
            return_weights: also return the per-head weights (B, H, Lq, Lk) from the kernel
                (before dropout; not head-averaged: torch's average_attn_weights=False).
            cache: a :class:`KVCache` of self-attention's earlier keys and values (incremental
                decoding): the queries come after its tokens, which they also attend (Lk is
                the cache's length plus Lq: masks and key masks cover every key), causal
                aligned bottom-right; this call's keys and values are appended to it.

        Attention dropout (``dropout``) applies in training mode only, a fresh seed per call.
        """
        c = self.embed_dim
        key = query if key is None else key
        value = key if value is None else value
        seen: dict[int, Tensor] = {}  # the same array passed twice stays one Tensor
        dtype = self.out_proj.weight.dtype
        query = attention_input(query, "query", c, "embed_dim", dtype, seen)
        key = attention_input(key, "key", self.kdim, "kdim", dtype, seen)
        value = attention_input(value, "value", self.vdim, "vdim", dtype, seen)
        self_attention = key is query and value is query
        if cache is not None:
            self._check_cache(cache, self_attention)
        b, lq = query.shape[:2]
        for name, x in (("key", key), ("value", value)):
            same_batch(x, name, query, "query")
        if value.shape[1] != key.shape[1]:
            raise ValueError(
                f"value: axis 1 (Lk) has size {value.shape[1]}, expected key's {key.shape[1]}"
            )
        lk = key.shape[1] + (0 if cache is None else len(cache))
        mask = attention_mask(mask, key_mask, (b, self.num_heads, lq, lk))
        return_weights = flag(return_weights, "return_weights")

        takers = self._recording()
        dropout_p = self.dropout if self.training else 0.0
        want_weights = return_weights or bool(takers)
        h, hkv = self.num_heads, self.num_kv_heads
        if (
            cache is None
            and self_attention
            and self.bias_k is None
            and not self.add_zero_attn
            and (self.positions is None or isinstance(self.positions, ScoreTerms))
        ):
            # q, k and v stay column blocks of the packed projection, one node of the graph.
            extra = {} if self.positions is None else self.positions.score_terms(h, lq, lk)
            qkv = self._packed_projection(query)
            out, weights, seen_v = packed_self_attention(
                qkv,
                h,
                hkv,
                mask,
                extra.get("bias"),
                alibi_slopes=extra.get("alibi_slopes"),
                is_causal=is_causal,
                dropout_p=dropout_p,
                return_weights=want_weights,
            )
            if takers:
                seen_q, seen_k, _ = packed_heads(qkv.data, h, hkv)
        else:
            out, weights, seen_q, seen_k, seen_v = self._attend(
                query, key, value, self_attention, mask, is_causal, dropout_p, want_weights, cache
            )
        if takers:
            self._record(takers, weights.data, out, seen_v, seen_q, seen_k)
        if self._head_mask is not None:
            out = out * self._head_mask.astype(out.dtype, copy=False)  # (1, H, 1, 1) per head
        out = self.out_proj(out.transpose(1, 2).reshape(b, lq, c))  # (B, Lq, C)
        return (out, weights) if return_weights else out

    def _check_cache(self, cache: object, self_attention: bool) -> None:
        if not isinstance(cache, KVCache):
            raise TypeError(f"cache: expected a KVCache, got {type(cache).__name__}")
        if not self_attention:
            raise ValueError(
                "cache: only self-attention caches its keys and values (pass key and value as None)"
            )
        if self.bias_k is not None or self.add_zero_attn:
            raise ValueError(
                "cache: cannot be combined with add_bias_kv or add_zero_attn "
                "(their extra key would be cached at every call)"
            )

    def _attend(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        self_attention: bool,
        mask: np.ndarray | None,
        is_causal: bool,
        dropout_p: float,
        return_weights: bool,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None, np.ndarray, np.ndarray, np.ndarray]:
        """Attention on q, k, v as Tensors of their own (cross attention, rotary positions,
        extra keys, a cache): out (B, H, Lq, D), the weights or None, and q (B, H, Lq, D), k and
        v (B, Hkv, Lk, D) as the kernel read them (after rotary positions; a cache's keys
        included)."""
        b, lq, lk = query.shape[0], query.shape[1], key.shape[1]
        q, k, v = self._project(query, key, value, self_attention)
        if is_causal and (self.bias_k is not None or self.add_zero_attn):
            # As torch: the causal mask covers the real keys; the extra ones stay visible.
            causal = np.tril(np.ones((lq, lk), dtype=bool))
            mask, is_causal = causal if mask is None else mask & causal, False
        if self.bias_k is not None:  # one more key and value, which every query may see
            k = cat([k, self.bias_k.expand(b, 1, k.shape[2])], axis=1)  # (B, Lk + 1, Hkv D)
            v = cat([v, self.bias_v.expand(b, 1, v.shape[2])], axis=1)
            mask = _pad_keys(mask, b, lq, lk)
            lk += 1
        h, hkv, d = self.num_heads, self.num_kv_heads, self.head_dim
        q = q.reshape(b, lq, h, d).transpose(1, 2)  # (B, H, Lq, D)
        k = k.reshape(b, lk, hkv, d).transpose(1, 2)  # (B, Hkv, Lk, D)
        v = v.reshape(b, lk, hkv, d).transpose(1, 2)  # (B, Hkv, Lk, D)
        if self.add_zero_attn:  # a zero key and value, which every query may see
            zeros = Tensor(np.zeros((b, hkv, 1, d), dtype=k.dtype))
            k, v = cat([k, zeros], axis=2), cat([v, zeros], axis=2)  # (B, Hkv, Lk + 1, D)
            mask = _pad_keys(mask, b, lq, lk)
        extra: dict = {}
        past = 0 if cache is None else len(cache)
        if self.positions is not None:
            q, k, extra = self.positions.attention_inputs(q, k, past=past)
        if cache is not None:
            k, v = cache.extend(k, v)  # (B, Hkv, past + Lq, D)
        result = F.scaled_dot_product_attention(
            q,
            k,
            v,
            mask,
            extra.get("bias"),
            alibi_slopes=extra.get("alibi_slopes"),
            is_causal=is_causal,
            causal_alignment="top_left" if cache is None else "bottom_right",
            dropout_p=dropout_p,
            return_weights=return_weights,
        )
        out, weights = result if isinstance(result, tuple) else (result, None)
        return out, weights, q.data, k.data, v.data

    def _packed_projection(self, query: Tensor) -> Tensor:
        """(B, L, C + 2 Hkv D): q, k and v of self-attention in one GEMM over the packed weights."""
        weight = self.in_proj_weight
        if weight is None:  # grouped-query heads: the three weights packed for one GEMM
            weight = cat([self.q_proj_weight, self.k_proj_weight, self.v_proj_weight])
        return F.linear(query, weight, self.in_proj_bias)

    def _project(
        self, query: Tensor, key: Tensor, value: Tensor, self_attention: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        """q (B, Lq, C), k (B, Lk, Hkv D), v (B, Lk, Hkv D): self-attention sliced from the
        packed projection; cross attention as q and then k, v."""
        c, kv = self.embed_dim, self.num_kv_heads * self.head_dim
        bias = self.in_proj_bias
        if self_attention:
            qkv = self._packed_projection(query)
            return qkv[..., :c], qkv[..., c : c + kv], qkv[..., c + kv :]
        bq, bkv = (None, None) if bias is None else (bias[:c], bias[c:])
        packed = self.in_proj_weight
        q = F.linear(query, self.q_proj_weight if packed is None else packed[:c], bq)
        if packed is not None and key is value:  # k and v in one GEMM
            kv_out = F.linear(key, packed[c:], bkv)  # (B, Lk, 2 Hkv D)
            return q, kv_out[..., :kv], kv_out[..., kv:]
        wk, wv = (
            (self.k_proj_weight, self.v_proj_weight)
            if packed is None
            else (packed[c : c + kv], packed[c + kv :])
        )
        bk, bv = (None, None) if bkv is None else (bkv[:kv], bkv[kv:])
        return q, F.linear(key, wk, bk), F.linear(value, wv, bv)

    def extra_repr(self) -> str:
        kv = f", num_kv_heads={self.num_kv_heads}" if self.num_kv_heads != self.num_heads else ""
        dims = (
            ""
            if self.kdim == self.vdim == self.embed_dim
            else f", kdim={self.kdim}, vdim={self.vdim}"
        )
        return f"{self.embed_dim}, num_heads={self.num_heads}{kv}{dims}, dropout={self.dropout}"


def _positions_module(
    positions: Module | str | None, num_heads: int, head_dim: int, dtype: Any
) -> Module | None:
    if positions is None or isinstance(positions, (RotaryEmbedding, ALiBi, RelativePositionBias)):
        return positions
    if positions == "rotary":
        return RotaryEmbedding(head_dim)
    if positions == "alibi":
        return ALiBi(num_heads, dtype=dtype)
    if positions == "t5":
        return RelativePositionBias(num_heads, dtype=dtype)
    raise ValueError(
        f"positions: expected None, one of {_POSITIONS}, or a RotaryEmbedding, ALiBi "
        f"or RelativePositionBias module, got {positions!r}"
    )


def head_counts(
    embed_dim: object,
    num_heads: object,
    num_kv_heads: object = None,
    *,
    names: tuple[str, str] = ("embed_dim", "num_heads"),
) -> tuple[int, int, int]:
    """embed_dim, num_heads and num_kv_heads (None: num_heads) as positive ints such that each
    head gets embed_dim / num_heads features and each key/value head serves the same number of
    query heads. ``names``: what the caller calls the first two (a layer's d_model, nhead)."""
    dim_name, heads_name = names
    embed_dim = positive_int(embed_dim, dim_name)
    num_heads = positive_int(num_heads, heads_name)
    if embed_dim % num_heads:
        raise ValueError(
            f"{dim_name}: {embed_dim} is not divisible by {heads_name}={num_heads} "
            f"(each head gets {dim_name} / {heads_name} features)"
        )
    num_kv_heads = num_heads if num_kv_heads is None else positive_int(num_kv_heads, "num_kv_heads")
    if num_heads % num_kv_heads:
        raise ValueError(
            f"{heads_name}: {num_heads} is not divisible by num_kv_heads="
            f"{num_kv_heads} (grouped-query attention shares each key/value head "
            "among the same number of query heads)"
        )
    return embed_dim, num_heads, num_kv_heads


def attention_input(
    x: Any,
    name: str,
    dim: int,
    dim_name: str,
    dtype: np.dtype | None,
    seen: dict[int, Tensor] | None = None,
) -> Tensor:
    """``x`` as a (B, L, dim) Tensor of ``dtype`` (None: either float dtype); an ndarray is
    wrapped (once per ``seen``)."""
    if not isinstance(x, Tensor):
        if not isinstance(x, np.ndarray):
            raise TypeError(
                f"{name}: expected a Tensor or ndarray (B, L, C), got {type(x).__name__}"
            )
        x = Tensor(x) if seen is None else seen.setdefault(id(x), Tensor(x))
    if x.ndim != 3:
        raise ValueError(
            f"{name}: expected 3 dimensions (B, L, C) (attnlab is batch-first), got shape {x.shape}"
        )
    if x.shape[2] != dim:
        raise ValueError(f"{name}: axis 2 (C) has size {x.shape[2]}, expected {dim_name}={dim}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{name}: dtype {x.dtype} does not match the module's {dtype} "
            "(attnlab never casts silently: convert the input, or the module with "
            ".double()/.float())"
        )
    return x


def same_batch(x: Tensor, name: str, like: Tensor, like_name: str) -> None:
    if x.shape[0] != like.shape[0]:
        raise ValueError(
            f"{name}: axis 0 (B) has size {x.shape[0]}, expected {like_name}'s {like.shape[0]}"
        )


def _key_mask(key_mask: Any, name: str, b: int, lk: int) -> np.ndarray:
    """key_mask as bool (B, Lk), True = real token; 0/1 integers are converted explicitly."""
    km = key_mask.data if isinstance(key_mask, Tensor) else key_mask
    if not isinstance(km, np.ndarray):
        raise TypeError(
            f"{name}: expected a bool or 0/1 integer array (B, Lk), got {type(key_mask).__name__}"
        )
    if km.dtype != np.bool_:
        if not np.issubdtype(km.dtype, np.integer):
            raise TypeError(
                f"{name}: expected dtype bool or 0/1 integers (True/1 = real token), got {km.dtype}"
            )
        if km.size and not np.isin(km, (0, 1)).all():
            raise ValueError(f"{name}: integer masks hold only 0 (padding) and 1 (real token)")
        km = km == 1
    if km.shape != (b, lk):
        raise ValueError(f"{name}: expected shape (B, Lk) = {(b, lk)}, got {km.shape}")
    return km


def attention_mask(
    mask: Any,
    key_mask: Any,
    shape: tuple[int, int, int, int],
    names: tuple[str, str] = ("mask", "key_mask"),
) -> np.ndarray | None:
    """mask (bool, True = may attend) and key_mask ((B, Lk), True/1 = real token) as one bool
    mask broadcastable to ``shape`` = (B, H, Lq, Lk), or None. ``names``: what the caller calls
    the two (a decoder's memory_mask and memory_key_mask)."""
    mask_name, key_mask_name = names
    if mask is not None:
        mask = bool_array(
            mask.data if isinstance(mask, Tensor) else mask,
            mask_name,
            hint=" (True = may attend; an additive float mask goes to bias)",
        )
        try:
            fits = mask.ndim <= 4 and np.broadcast_shapes(mask.shape, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"{mask_name}: shape {mask.shape} is not broadcastable to (B, H, Lq, Lk) = {shape}"
            )
    if key_mask is None:
        return mask
    km = _key_mask(key_mask, key_mask_name, shape[0], shape[3])[:, None, None, :]  # (B, 1, 1, Lk)
    return km if mask is None else mask & km


def _pad_keys(mask: np.ndarray | None, b: int, lq: int, lk: int) -> np.ndarray | None:
    """mask with one more key column that every query may attend (add_bias_kv, add_zero_attn)."""
    if mask is None:
        return None
    m = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    m = np.broadcast_to(m, m.shape[:2] + (lq, lk))  # (B or 1, H or 1, Lq, Lk)
    return np.concatenate([m, np.ones(m.shape[:3] + (1,), dtype=bool)], axis=3)
