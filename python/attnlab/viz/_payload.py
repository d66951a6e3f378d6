"""What every HTML view embeds and how: labels, scales, and weights packed compactly
(quantized to uint16 and base64-encoded) into JSON that cannot end its <script>."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from attnlab._threads import get_num_threads
from attnlab._validation import index
from attnlab.viz._inputs import Attention, attention, nonempty, nonnegative, query_key_labels

T = TypeVar("T")

LEVELS = 65535
"""Weights travel as round(LEVELS * weight / top): readable to about 1e-5 of ``top``."""


def script_json(data: object) -> str:
    """JSON that cannot end the <script> it sits in, whatever the token strings hold."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def view_input(weights: object, name: str, batch_index: object) -> Attention:
    """``weights`` as a view reads them: any layout, non-negative, something to show."""
    return nonempty(nonnegative(attention(weights, name, batch_index=batch_index), name), name)


def top_of(weights: np.ndarray) -> float:
    """The weight drawn darkest on the absolute scale: 1, or the largest weight when some
    exceed 1 (weights that are not probabilities)."""
    return max(1.0, float(weights.max()))


def quantized(values: np.ndarray, top: float) -> str:
    """``values`` in [0, top] as base64 little-endian uint16 levels of ``top`` / LEVELS."""
    return b64(np.rint(values * (LEVELS / top)).astype("<u2"))


def labels(att: Attention, tokens: object, key_tokens: object) -> dict:
    """The fields every view shares: token strings, layer names, sizes, the batch item."""
    queries, keys = query_key_labels(tokens, key_tokens, *att.shape[2:])
    return {
        "tokens": queries,
        "keyTokens": keys,
        "layers": att.layer_names,
        "heads": att.shape[1],
        "lq": att.shape[2],
        "lk": att.shape[3],
        "batchNote": att.batch_note,
    }


def on_threads(function: Callable[[T], object], tasks: Iterable[T]) -> None:
    """function(task) for every task on the kernels' thread count: NumPy releases the GIL in
    its loops, and on a loaded machine more threads also get a larger share of it."""
    tasks = list(tasks)
    with ThreadPoolExecutor(max_workers=max(1, min(get_num_threads(), len(tasks)))) as pool:
        list(pool.map(function, tasks))


def pooled(weights: np.ndarray, resolution: int) -> np.ndarray:
    """Max-pooled to at most ``resolution`` cells on each of the last two axes, so that a
    single strong weight stays visible in a long sequence. Rows first, a slice of rows at a
    time (an elementwise maximum over contiguous rows: np.maximum.reduceat along axis -2 is
    some 15x slower), then the columns of the smaller result."""
    rows, cols = weights.shape[-2:]
    if rows > resolution:
        starts = (np.arange(resolution + 1) * rows) // resolution
        out = np.empty(weights.shape[:-2] + (resolution, cols), weights.dtype)

        def one(cell: int) -> None:
            np.max(weights[..., starts[cell] : starts[cell + 1], :], axis=-2, out=out[..., cell, :])

        on_threads(one, range(resolution))
        weights = out
    if cols > resolution:
        weights = np.maximum.reduceat(
            weights, (np.arange(resolution) * cols) // resolution, axis=-1
        )
    return weights


def checked_resolution(resolution: object) -> int:
    value = index(resolution, "resolution")
    if not 8 <= value <= 1024:
        raise ValueError(f"resolution: expected an int in [8, 1024], got {value}")
    return value
