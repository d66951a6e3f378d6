"""model_view: every head of a model as a thumbnail, one enlarged with its token axes, colour
bar and a readout (assets/model_view.js draws it; :func:`_picture` is its static equivalent)."""

from __future__ import annotations

from attnlab.viz._figure import checked_scale, draw_grid, ink_colormap, new_figure
from attnlab.viz._payload import checked_resolution, labels, pooled, quantized, top_of, view_input
from attnlab.viz._top_keys import checked_top_k, packed_keys, top_keys
from attnlab.viz.html import View


def pooled_note(lq: int, lk: int, rq: int, rk: int) -> str:
    """What a view says when its cells are max-pooled."""
    if (rq, rk) == (lq, lk):
        return ""
    return (
        f"{lq} x {lk} tokens max-pooled to {rq} x {rk} cells: each cell shows the "
        "largest weight it covers"
    )


def model_view(
    weights,
    tokens=None,
    key_tokens=None,
    *,
    resolution: int = 128,
    top_k: int | None = None,
    scale: str = "absolute",
    batch_index: int | None = None,
) -> View:
    """Every head as a thumbnail, layers down and heads across; click one to enlarge it with
    its query and key tokens on the axes, a colour bar, and the weight under the pointer
    (with both tokens' positions).

    ``scale``: the colour is the weight itself ("absolute", the default), or the weight over
    the head's strongest ("head") or its query's strongest ("row"); the page can switch.
    The enlarged head zooms (drag over a region or turn the wheel; "reset zoom" shows it
    whole), and "find a token" marks a token's positions (Enter zooms to the next). Sequences
    longer than ``resolution`` are max-pooled to that many cells per axis, and the view says
    so; the page then also carries each query's ``top_k`` strongest keys at full resolution
    (default as in :func:`head_view`), which the zoomed head draws (the weaker ones are not
    in the page, and the view says so). ``batch_index``: the batch item of an input with a
    batch axis.
    """
    att = view_input(weights, "weights", batch_index)
    scale = checked_scale(scale)
    cells = pooled(att.weights, checked_resolution(resolution))  # (layers, H, rq, rk)
    top = top_of(cells)
    rq, rk = cells.shape[2:]
    lq, lk = att.shape[2:]
    top_k = checked_top_k(top_k, lq, lk)
    data = labels(att, tokens, key_tokens) | {
        "rq": rq,
        "rk": rk,
        "top": top,
        "scale": scale,
        "cells": quantized(cells, top),
        "pooledNote": pooled_note(lq, lk, rq, rk),
        "k": 0,
    }
    if (rq, rk) != (lq, lk):  # what the zoomed head draws
        keys, kept = top_keys(att.weights, top_k)  # (layers, H, Lq, k)
        data |= packed_keys(keys, kept, top, lk)
    title = f"model view ({att.shape[0]} layers x {att.shape[1]} heads)"

    def picture():
        rows, cols = cells.shape[:2]
        figure = new_figure("model_view", min(16.0, 1.2 * cols + 2.2), min(16.0, 1.2 * rows + 1.0))
        notes = [title, data["batchNote"], data["pooledNote"]]
        draw_grid(
            figure,
            cells,
            att.layer_names,
            cmap=ink_colormap(),
            scale=scale,
            title="\n".join(n for n in notes if n),
        )
        return figure

    return View("model_view", title, data, picture)
