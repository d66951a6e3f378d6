"""head_view: query tokens joined to key tokens by lines as strong as the attention weight, one
colour per head (assets/head_view.js draws it; :func:`_picture` is its static equivalent)."""

from __future__ import annotations

import colorsys
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from attnlab._threads import get_num_threads
from attnlab._validation import index
from attnlab.viz._figure import (
    SCALE_LABELS,
    checked_scale,
    label_stride,
    new_figure,
    scaled,
    token_text,
)
from attnlab.viz._inputs import checked_index
from attnlab.viz._payload import b64, labels, quantized, top_of, view_input
from attnlab.viz.html import View

LINES_PER_HEAD = 1 << 15
"""head_view's default budget: keys kept per query = this // Lq (at least 1, at most Lk)."""

STATIC_LINES = 1024
"""The static picture draws at most this many lines per head, the strongest."""

STATIC_FAINTEST = 1 / 64
"""The static picture leaves out lines fainter than this opacity: next to invisible, they
would make its PNG (a notebook's fallback) megabytes of noise."""


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
"""_top_keys works on this many rows at a time, so that its temporaries stay in cache."""


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
        outside = cols >= n  # the last slab's missing columns
        candidates = rows[found[:, None], np.minimum(cols, n - 1)]  # (Rc, slabs k)
        candidates[outside] = -np.inf
        keys[found] = np.take_along_axis(cols, _top_of_rows(candidates, k), axis=1)
    rest = np.flatnonzero(~clean)
    if rest.size:
        keys[rest] = _top_of_rows(rows[rest], k)
    return keys


def _top_keys(weights: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
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
    with ThreadPoolExecutor(max_workers=max(1, min(get_num_threads(), len(tasks)))) as pool:
        list(pool.map(one, tasks))
    return keys, np.take_along_axis(weights, keys, axis=-1)


def head_view(
    weights,
    tokens=None,
    key_tokens=None,
    *,
    layer: int = 0,
    heads=None,
    top_k: int | None = None,
    scale: str = "absolute",
    batch_index: int | None = None,
) -> View:
    """Query tokens (left) and key tokens (right) joined by lines, one colour per head.

    A line's opacity is its attention weight (``scale="absolute"``, the default: a diffuse
    head looks diffuse), or the weight over its query's strongest (``"row"``) or over the
    head's strongest (``"head"``); the page can switch. Overlapping heads blend as inks do.
    Hover or click a token to see only its lines, hover a line to read its weight and both
    tokens with their positions, type in "find a token" to find one in a long input; the
    PNG and SVG buttons download what is shown.

    ``weights``: any layout of :mod:`attnlab.viz` (a model, a record, Hugging Face's
    ``outputs.attentions``, torch tensors). ``layer``, ``heads``: what shows first (default:
    layer 0, every head). ``top_k``: keys kept per query (default ``LINES_PER_HEAD // Lq``,
    at least 1); the view says when it keeps fewer than all. ``batch_index``: the batch item
    of an input with a batch axis (default the first).
    """
    att = view_input(weights, "weights", batch_index)
    count, per_layer, lq, lk = att.shape
    layer = checked_index(layer, "layer", count, "layers") % count
    shown = (
        list(range(per_layer))
        if heads is None
        else sorted(
            {
                checked_index(h, f"heads[{i}]", per_layer, "H") % per_layer
                for i, h in enumerate(heads)
            }
        )
    )
    if top_k is None:
        top_k = max(1, LINES_PER_HEAD // lq)
    elif index(top_k, "top_k") < 1:
        raise ValueError(f"top_k: expected an int >= 1, got {top_k}")
    scale = checked_scale(scale)
    keys, kept = _top_keys(att.weights, min(int(top_k), lk))  # (layers, H, Lq, k)
    top = top_of(kept)
    wide = lk > 1 << 16
    data = labels(att, tokens, key_tokens) | {
        "layer": layer,
        "shown": shown,
        "k": keys.shape[-1],
        "scale": scale,
        "top": top,
        "keyBytes": 4 if wide else 2,
        "keys": b64(keys.astype("<u4" if wide else "<u2")),
        "weights": quantized(kept, top),
    }
    title = f"head view ({lq} x {lk} tokens)"

    def picture():
        return _picture(data, keys[layer], kept[layer], title, att.layer_names[layer])

    return View("head_view", title, data, picture)


def _colour(head: int, heads: int) -> tuple[float, float, float]:
    """The page's head colour, hsl(360 h / H, 70%, 42%), as RGB."""
    return colorsys.hls_to_rgb(head / max(heads, 1), 0.42, 0.70)


def _picture(data: dict, keys: np.ndarray, kept: np.ndarray, title: str, layer_name: str):
    """The static head view: one panel per shown head side by side (so that no head hides
    another), tokens on the outer sides, each line as opaque as the page draws it."""
    from matplotlib.collections import LineCollection

    shown, lq, lk = data["shown"], data["lq"], data["lk"]
    rows = max(lq, lk)
    height = min(7.0, max(3.0, 0.16 * rows))
    figure = new_figure("head_view", 1.4 + 1.1 * len(shown) + 1.4, height + 0.9)
    axes = figure.subplots(1, len(shown), squeeze=False, sharey=True)[0]
    strengths, top = scaled(kept, data["scale"])
    note = []
    for ax, head in zip(axes, shown):
        s, j = strengths[head].ravel() / top, keys[head].reshape(-1)
        i = np.repeat(np.arange(lq), keys.shape[-1])
        visible = np.flatnonzero(s >= STATIC_FAINTEST)
        if visible.size > STATIC_LINES:
            visible = visible[np.argpartition(s[visible], -STATIC_LINES)[-STATIC_LINES:]]
            note = [f"the {STATIC_LINES} strongest lines of each head"]
        y0, y1 = (i[visible] + 0.5) * rows / lq, (j[visible] + 0.5) * rows / lk
        colours = np.empty((visible.size, 4))
        colours[:, :3] = _colour(head, data["heads"])
        colours[:, 3] = s[visible]
        segments = np.stack(
            [np.stack([np.zeros_like(y0), y0], -1), np.stack([np.ones_like(y1), y1], -1)], axis=1
        )
        ax.add_collection(LineCollection(segments, colors=colours, linewidths=1.0))
        ax.set_xlim(0, 1)
        ax.set_ylim(rows, 0)
        ax.set_axis_off()
        ax.set_title(f"head {head}", fontsize=9, color=_colour(head, data["heads"]))
    stride_q, stride_k = label_stride(lq, height), label_stride(lk, height)
    for i in range(0, lq, stride_q):
        token_text(
            axes[0], -0.04, (i + 0.5) * rows / lq, data["tokens"][i], ha="right", va="center"
        )
    for j in range(0, lk, stride_k):
        token_text(
            axes[-1], 1.04, (j + 0.5) * rows / lk, data["keyTokens"][j], ha="left", va="center"
        )
    if data["k"] < lk:
        note.append(f"each query's {data['k']} strongest keys of {lk}")
    lines = [
        f"{title}, {layer_name}",
        data["batchNote"],
        "query (left) \u2192 key (right); "
        f"line opacity = {SCALE_LABELS[data['scale']]} (below {STATIC_FAINTEST:.3f}: "
        "not drawn)",
        "; ".join(note),
    ]
    figure.suptitle("\n".join(line for line in lines if line), fontsize=9, parse_math=False)
    return figure
