"""Each query's strongest keys, the sparse form in which views carry long inputs at full
resolution: found by reading each weight once, packed as uint16 (or uint32) key indices beside
uint16 weight levels."""

from __future__ import annotations

import math

import numpy as np

from attnlab._validation import index
from attnlab.viz._payload import b64, on_threads, quantized

LINES_PER_HEAD = 1 << 15
"""The default budget: keys kept per query = this // Lq (at least 1, at most Lk)."""


def checked_top_k(top_k: object, lq: int, lk: int) -> int:
    """Keys kept per query: ``top_k`` (an int >= 1) or the default budget, at most ``lk``."""
    if top_k is None:
        return min(lk, max(1, LINES_PER_HEAD // lq))
    if index(top_k, "top_k") < 1:
        raise ValueError(f"top_k: expected an int >= 1, got {top_k}")
    return min(lk, int(top_k))


def packed_keys(keys: np.ndarray, kept: np.ndarray, top: float, lk: int) -> dict:
    """The page's fields for kept keys: k, their indices (uint16, or uint32 past 65536 keys)
    and their weights as levels of ``top``."""
    wide = lk > 1 << 16
    return {
        "k": keys.shape[-1],
        "keyBytes": 4 if wide else 2,
        "keys": b64(keys.astype("<u4" if wide else "<u2")),
        "weights": quantized(kept, top),
    }


def _top_of_rows(matrix: np.ndarray, k: int) -> np.ndarray:
    """Columns of the ``k`` largest entries of each row of ``matrix`` (R, n), (R, k); among
    equal entries at the k-th place, the first ones. np.partition of the values and a mask:
    np.argpartition is up to 10x slower on long rows."""
    rows = matrix.shape[0]
    kth = np.partition(matrix, -k, axis=-1)[:, -k, None]  # (R, 1)
    at_least = matrix >= kth
    row, col = np.nonzero(at_least)
    if row.size == rows * k:  # no ties at the k-th place (the usual case)
        return col.reshape(rows, k)
    greater = np.count_nonzero(matrix > kth, axis=1)  # (R,) < k
    ties = matrix[row, col] == kth[row, 0]
    rank = np.cumsum(ties) - 1  # ties before this one in its row, counted from the row's start
    rank -= np.concatenate([[0], np.cumsum(ties)])[np.searchsorted(row, np.arange(rows))][row]
    keep = ~ties | (rank < (k - greater)[row])
    return col[keep].reshape(rows, k)


ROWS_PER_TASK = 256
"""top_keys works on this many rows at a time, so that its temporaries stay in cache."""


def _group_maxima(rows: np.ndarray, groups: int) -> np.ndarray:
    """The largest entry of each group of columns congruent modulo ``groups``: (R, n) ->
    (R, groups). Slabs of ``groups`` columns folded by np.maximum (a reshaped max along a short
    axis is several times slower)."""
    n = rows.shape[1]
    whole = n // groups
    out = rows[:, :groups].copy()
    for slab in range(1, whole):
        np.maximum(out, rows[:, slab * groups : (slab + 1) * groups], out=out)
    tail = n - whole * groups
    np.maximum(out[:, :tail], rows[:, whole * groups :], out=out[:, :tail])
    return out


def _top_of_long_rows(rows: np.ndarray, k: int) -> np.ndarray:
    """:func:`_top_of_rows` for rows much longer than ``k``, reading each entry once. The
    columns fall into G groups (congruent modulo G); if t is the k-th largest of the groups'
    maxima, at least k entries are >= t, so every entry of the top k (and each tie at the k-th
    place) lies in a group whose maximum is >= t. Where exactly k groups reach t (the usual
    case) only their entries are searched, in column order; other rows are searched whole."""
    count, n = rows.shape
    groups = max(2 * k, math.isqrt(k * n))  # balances the fold's G and the k n / G searched
    maxima = _group_maxima(rows, groups)  # (R, G)
    threshold = np.partition(maxima, -k, axis=-1)[:, -k, None]  # (R, 1)
    reaching = maxima >= threshold
    clean = np.count_nonzero(reaching, axis=1) == k
    keys = np.empty((count, k), dtype=np.int64)
    found = np.flatnonzero(clean)
    if found.size:
        chosen = np.nonzero(reaching[found])[1].reshape(-1, 1, k)  # (Rc, 1, k) ascending
        slabs = -(-n // groups)
        cols = (np.arange(slabs)[:, None] * groups + chosen).reshape(found.size, slabs * k)
        # one flat np.take (2-D fancy indexing is about 3x slower); the last slab's missing
        # columns read the next row (or clip at the end) and are then set below every weight
        flat = np.ravel(rows)  # a view unless the rows are strided
        candidates = np.take(flat, cols + (found * n)[:, None], mode="clip")  # (Rc, slabs k)
        if n % groups:
            candidates[cols >= n] = -np.inf
        keys[found] = np.take_along_axis(cols, _top_of_rows(candidates, k), axis=1)
    rest = np.flatnonzero(~clean)
    if rest.size:
        keys[rest] = _top_of_rows(rows[rest], k)
    return keys


def top_keys(weights: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """(key indices, weights) of the ``top_k`` strongest keys of each row, shapes (..., top_k),
    in column order; among equal weights at the k-th place, the first ones. Blocks of rows on
    the kernels' thread count (NumPy releases the GIL)."""
    n = weights.shape[-1]
    if top_k >= n:
        keys = np.broadcast_to(np.arange(n), weights.shape)
        return keys, weights
    keys = np.empty(weights.shape[:-1] + (top_k,), dtype=np.int64)
    long_rows = n >= 16 * top_k  # where searching about sqrt(k n) entries a row pays off
    search = _top_of_long_rows if long_rows else _top_of_rows

    def one(task: tuple[tuple[int, ...], int]) -> None:
        head, start = task
        block = slice(start, start + ROWS_PER_TASK)
        keys[head][block] = search(weights[head][block], top_k)

    tasks = [
        (head, start)
        for head in np.ndindex(weights.shape[:-2])
        for start in range(0, weights.shape[-2], ROWS_PER_TASK)
    ]
    on_threads(one, tasks)
    return keys, np.take_along_axis(weights, keys, axis=-1)
