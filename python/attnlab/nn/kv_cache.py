"""KVCache: the keys and values an attention layer has already computed, for decoding one
token at a time without running the prefix again (Hugging Face's ``past_key_values``)."""

from __future__ import annotations

import numpy as np

from attnlab.tensor import Tensor, cat


class KVCache:
    """Keys and values (B, Hkv, L, D) of the L tokens a self-attention layer has seen.

    Pass one to :class:`MultiheadAttention` (``cache=``) call after call: each call's queries
    come after the cached tokens (its rotary positions start at ``len(cache)``, causal
    attention and ALiBi are aligned bottom-right), and its keys and values are appended.
    The cache keeps arrays: gradients do not flow into an earlier call's keys and values.

    >>> cache = KVCache()
    >>> len(cache)
    0
    """

    def __init__(self) -> None:
        self.keys: np.ndarray | None = None  # (B, Hkv, L, D)
        self.values: np.ndarray | None = None  # (B, Hkv, L, Dv)

    def __len__(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    def extend(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Appends this call's k (B, Hkv, Lnew, D) and v (B, Hkv, Lnew, Dv); returns every
        key and value, the cached ones first (B, Hkv, L + Lnew, D)."""
        if self.keys is not None:
            if (
                k.shape[:2] != self.keys.shape[:2]
                or k.shape[3] != self.keys.shape[3]
                or k.dtype != self.keys.dtype
            ):
                raise ValueError(
                    f"cache: holds keys {self.keys.dtype} {self.keys.shape}, which "
                    f"keys {k.dtype} {k.shape} cannot follow (another batch, "
                    "layer or dtype: use a new KVCache)"
                )
            k = cat([Tensor(self.keys), k], axis=2)  # (B, Hkv, L + Lnew, D)
            v = cat([Tensor(self.values), v], axis=2)
        self.keys, self.values = k.data, v.data
        return k, v

    def clear(self) -> None:
        """Forgets every token."""
        self.keys = self.values = None

    def __repr__(self) -> str:
        return f"KVCache(length={len(self)})"
