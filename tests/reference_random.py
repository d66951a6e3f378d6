"""NumPy oracle of dropout's counter-based generator (cpp/src/kernels/random.hpp), written from
its definition: which elements a seed keeps, for functional dropout and for attention.

A row's key is SplitMix64's finalizer chained over (seed, batch, head, row); column j of the row
is kept iff lowbias32(lowbias32(low32(j) ^ low32(key')) + high32(key')) >= floor(p * 2**32),
where key' is the row's key for j < 2**32 and, for the 2**32-column segment s = j >> 32 past the
first, mix64(key + s).
"""

import numpy as np

U32 = np.uint64(0xFFFFFFFF)
FUNCTIONAL_STREAM = 2**64 - 1  # head index -1: functional dropout's own stream


def mix64(z: int) -> int:
    mask = 2**64 - 1
    z &= mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def mix32(x: np.ndarray) -> np.ndarray:
    """lowbias32 over a uint64 array of 32-bit values (products reduced mod 2**32)."""
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(0x7FEB352D)) & U32
    x = x ^ (x >> np.uint64(15))
    x = (x * np.uint64(0x846CA68B)) & U32
    return x ^ (x >> np.uint64(16))


def row_key(seed: int, batch: int, head: int, row: int) -> int:
    mask = 2**64 - 1
    return mix64(mix64(mix64(mix64(seed) + batch) + (head & mask)) + row)


def threshold(p: float) -> int:
    return min(int(p * 2.0**32), 2**32 - 1)


def row_keep(key: int, p: float, columns: np.ndarray) -> np.ndarray:
    """Whether each of `columns` (non-negative ints) of the row with `key` is kept."""
    columns = np.asarray(columns, dtype=np.uint64)
    segment = columns >> np.uint64(32)
    keys = np.empty_like(columns)
    for s in np.unique(segment).tolist():
        keys[segment == s] = key if s == 0 else mix64(key + s)
    low = columns & U32
    x = mix32(low ^ (keys & U32))
    r = mix32((x + (keys >> np.uint64(32))) & U32)
    return r >= np.uint64(threshold(p))


def functional_keep(seed: int, p: float, n: int, first: int = 0) -> np.ndarray:
    """The keep mask of elements [first, first + n) of functional dropout's flat index."""
    return row_keep(
        row_key(seed, 0, FUNCTIONAL_STREAM, 0), p, np.arange(n, dtype=np.uint64) + np.uint64(first)
    )


def attention_keep(seed: int, p: float, batch: int, heads: int, lq: int, lk: int) -> np.ndarray:
    """The keep mask (batch, heads, lq, lk) of attention's dropout on its weights."""
    keep = np.empty((batch, heads, lq, lk), dtype=bool)
    columns = np.arange(lk, dtype=np.uint64)
    for b in range(batch):
        for h in range(heads):
            for i in range(lq):
                keep[b, h, i] = row_keep(row_key(seed, b, h, i), p, columns)
    return keep
