"""neuron_view: for one layer, head and query, the query and key vectors, their elementwise
products, and the scores and weights they make (assets/neuron_view.js draws it; :func:`_picture`
is its static equivalent). attnlab needs no hooks for it: ``record_attention(model, qk=True)``
keeps the queries and keys its fused kernel scored."""

from __future__ import annotations

import numpy as np

from attnlab._validation import index
from attnlab.viz._figure import FONT_SIZE, new_figure, token_text
from attnlab.viz._inputs import checked_index, query_key_labels
from attnlab.viz._payload import b64
from attnlab.viz._top_keys import top_keys
from attnlab.viz.html import View

MAX_KEYS = 64
"""The keys the view shows per query by default: all of them up to this many, else the
strongest this many (in position order)."""


def _module(record, layer: object) -> str:
    names = list(record)
    if isinstance(layer, str):
        if layer not in names:
            raise ValueError(f"layer: {layer!r} is not a recorded module; recorded: {names}")
        return layer
    return names[checked_index(layer, "layer", len(names), "recorded modules")]


def neuron_view(
    record,
    tokens=None,
    key_tokens=None,
    *,
    layer: int | str = 0,
    head: int = 0,
    query: int | None = None,
    max_keys: int = MAX_KEYS,
    batch_index: int | None = None,
) -> View:
    """How one head's query meets each key: the query vector q, each key vector k, their
    elementwise product q * k (whose sum over the head's D dimensions, times 1/sqrt(D), is the
    score) and the weight the kernel gave the key; pick the query in the page, hover a cell to
    read its value.

    ``record``: what ``with al.record_attention(model, qk=True) as rec: model(x)`` yields.
    ``layer``: a module's index in the record or its name; ``head``: a query head (grouped
    heads read their shared key head). ``query``: the query shown first (default the last).
    ``max_keys``: keys shown per query, all when there are no more, else the strongest.
    ``batch_index``: the batch item (default the first). The weights are the kernel's, so
    they include masks and position biases, which the scores q . k / sqrt(D) do not.
    """
    if not hasattr(record, "qk") or not hasattr(record, "keeps_qk"):
        raise TypeError(
            f"record: expected what record_attention(model, qk=True) yields, got "
            f"{type(record).__name__}"
        )
    if not record.keeps_qk:
        raise ValueError(
            "record: made without qk=True; record with al.record_attention(model, qk=True)"
        )
    name = _module(record, layer)
    q_all, k_all = record.qk(name)
    weights_all = record[name]
    b, heads, lq, dim = q_all.shape
    lk = k_all.shape[2]
    item = 0 if batch_index is None else checked_index(batch_index, "batch_index", b, "B") % b
    head = checked_index(head, "head", heads, "H") % heads
    query = lq - 1 if query is None else checked_index(query, "query", lq, "Lq") % lq
    max_keys = index(max_keys, "max_keys")
    if max_keys < 1:
        raise ValueError(f"max_keys: expected an int >= 1, got {max_keys}")
    q = np.ascontiguousarray(q_all[item, head], dtype=np.float32)  # (Lq, D)
    k = np.ascontiguousarray(k_all[item, head // (heads // k_all.shape[1])], dtype=np.float32)
    weights = weights_all[item, head]  # (Lq, Lk)
    keys, kept = top_keys(weights, min(max_keys, lk))
    order = np.argsort(keys, axis=-1, kind="stable")  # in position order
    keys, kept = np.take_along_axis(keys, order, -1), np.take_along_axis(kept, order, -1)
    queries, key_labels = query_key_labels(tokens, key_tokens, lq, lk)
    wide = lk > 1 << 16
    data = {
        "tokens": queries,
        "keyTokens": key_labels,
        "lq": lq,
        "lk": lk,
        "dim": dim,
        "m": keys.shape[-1],
        "query": query,
        "module": name or "(root)",
        "head": head,
        "batchNote": f"batch item {item} of {b}" if b > 1 else "",
        "q": b64(q),
        "k": b64(k),
        "keyBytes": 4 if wide else 2,
        "keys": b64(keys.astype("<u4" if wide else "<u2")),
        "weights": b64(kept.astype("<f4")),
    }
    title = f"neuron view ({data['module']}, head {head})"

    def picture():
        return _picture(data, q, k, keys, kept, title)

    return View("neuron_view", title, data, picture)


def _picture(
    data: dict, q: np.ndarray, k: np.ndarray, keys: np.ndarray, kept: np.ndarray, title: str
):
    """The view at its first query: q above K and q * K (blue < 0 < red), then the scores
    and the weights as bars."""
    query, dim = data["query"], data["dim"]
    shown = keys[query]
    products = q[query] * k[shown]  # (m, D)
    scores = products.sum(axis=-1) / np.sqrt(dim)
    rows = len(shown)
    figure = new_figure("neuron_view", 9.5, min(14.0, 1.6 + 0.2 * rows))
    grid = figure.add_gridspec(2, 4, height_ratios=[1, max(rows, 1)], width_ratios=[3, 3, 1.2, 1.2])
    reach = float(max(np.abs(q[query]).max(), np.abs(k[shown]).max(), 1e-12))
    product_reach = float(max(np.abs(products).max(), 1e-12))
    ax_q = figure.add_subplot(grid[0, 0])
    ax_q.imshow(
        q[query][None],
        cmap="RdBu_r",
        vmin=-reach,
        vmax=reach,
        aspect="auto",
        interpolation="nearest",
    )
    ax_q.set_axis_off()
    ax_q.set_title("query vector q", fontsize=FONT_SIZE)
    for column, matrix, label, top in (
        (0, k[shown], "key vectors k", reach),
        (1, products, "q * k (sums to the score x sqrt(D))", product_reach),
    ):
        ax = figure.add_subplot(grid[1, column])
        ax.imshow(
            matrix, cmap="RdBu_r", vmin=-top, vmax=top, aspect="auto", interpolation="nearest"
        )
        ax.set_title(label, fontsize=FONT_SIZE)
        ax.set_yticks([])
        ax.set_xlabel("dimension", fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE)
        if column == 0:
            for row, j in enumerate(shown):
                token_text(ax, -0.8, row, f"{j} {data['keyTokens'][j]}", ha="right", va="center")
    for column, values, label in ((2, scores, "score q.k/sqrt(D)"), (3, kept[query], "weight")):
        ax = figure.add_subplot(grid[1, column])
        ax.barh(np.arange(rows), values, color="#4a6fa5" if column == 3 else "#888")
        ax.set_ylim(rows - 0.5, -0.5)
        ax.set_yticks([])
        ax.set_title(label, fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE)
        if column == 3:
            ax.set_xlim(0, max(1.0, float(values.max(initial=0))))
    note = (
        f"each query's {data['m']} strongest keys of {data['lk']}" if data["m"] < data["lk"] else ""
    )
    lines = [title, f"query {query} \u201c{data['tokens'][query]}\u201d", data["batchNote"], note]
    figure.suptitle("\n".join(line for line in lines if line), fontsize=9, parse_math=False)
    return figure
