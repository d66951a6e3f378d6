"""head_view: query tokens joined to key tokens by lines as strong as the attention weight, one
colour per head (assets/head_view.js draws it; :func:`_picture` is its static equivalent)."""

from __future__ import annotations

import colorsys

import numpy as np

from attnlab.viz._figure import (
    SCALE_LABELS,
    checked_scale,
    label_stride,
    new_figure,
    scaled,
    token_text,
)
from attnlab.viz._inputs import checked_index
from attnlab.viz._payload import labels, top_of, view_input
from attnlab.viz._top_keys import checked_top_k, packed_keys, top_keys
from attnlab.viz.html import View

STATIC_LINES = 1024
"""The static picture draws at most this many lines per head, the strongest."""

STATIC_FAINTEST = 1 / 64
"""The static picture leaves out lines fainter than this opacity: next to invisible, they
would make its PNG (a notebook's fallback) megabytes of noise."""


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
    layer 0, every head). ``top_k``: keys kept per query (default ``32768 // Lq``,
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
    scale = checked_scale(scale)
    keys, kept = top_keys(att.weights, checked_top_k(top_k, lq, lk))  # (layers, H, Lq, k)
    top = top_of(kept)
    data = labels(att, tokens, key_tokens) | {
        "layer": layer,
        "shown": shown,
        "scale": scale,
        "top": top,
        **packed_keys(keys, kept, top, lk),
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
