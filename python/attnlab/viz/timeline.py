"""timeline: how a layer's heads change over training, step by step (assets/timeline.js draws
it; its static picture is the last step)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attnlab._validation import real_number
from attnlab.viz._figure import checked_scale, draw_grid, ink_colormap, new_figure
from attnlab.viz._inputs import Attention, checked_index
from attnlab.viz._payload import checked_resolution, labels, pooled, quantized, top_of, view_input
from attnlab.viz.html import View
from attnlab.viz.model_view import pooled_note


def _snapshots(snapshots: object, batch_index: object) -> tuple[list[float], list[Attention]]:
    if hasattr(snapshots, "timeline") and hasattr(snapshots, "snapshots"):  # a History
        example = (
            0
            if batch_index is None
            else checked_index(
                batch_index, "batch_index", len(snapshots.snapshot_inputs), "snapshot rows"
            )
        )
        snapshots, batch_index = snapshots.timeline(example=example), None
    if not isinstance(snapshots, Sequence) or isinstance(snapshots, (str, bytes)):
        raise TypeError(
            f"snapshots: expected a History or a list of (step, weights), got "
            f"{type(snapshots).__name__}"
        )
    if not snapshots:
        raise ValueError("snapshots: the list is empty")
    steps, atts = [], []
    for i, item in enumerate(snapshots):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValueError(f"snapshots[{i}]: expected a (step, weights) pair")
        steps.append(real_number(item[0], f"snapshots[{i}] step"))
        atts.append(view_input(item[1], f"snapshots[{i}] weights", batch_index))
        if atts[i].shape != atts[0].shape:
            raise ValueError(
                f"snapshots[{i}] weights: shape (layers, H, Lq, Lk) = {atts[i].shape} "
                f"does not match snapshots[0]'s {atts[0].shape}"
            )
    return steps, atts


def timeline(
    snapshots,
    tokens=None,
    key_tokens=None,
    *,
    layer: int = 0,
    resolution: int = 96,
    scale: str = "absolute",
    batch_index: int | None = None,
) -> View:
    """How a layer's heads change over training: a slider and a play button over the steps,
    opening at the last one, with the tokens on each head's axes and the weight under the
    pointer.

    ``snapshots``: a :class:`attnlab.History` made with ``snapshot_every`` (its modules by
    name; ``batch_index`` picks the snapshot row, default the first), or a list of (step,
    weights), the weights in any layout of :mod:`attnlab.viz`, all of one shape. ``scale``:
    the colour is the weight itself ("absolute", the default, so that a pattern that sharpens
    gets darker), or over the head's strongest at that step ("head") or its query's strongest
    ("row"). Long sequences are max-pooled to ``resolution``, and the view says so.
    """
    steps, atts = _snapshots(snapshots, batch_index)
    count = atts[0].shape[0]
    layer = checked_index(layer, "layer", count, "layers") % count
    scale = checked_scale(scale)
    resolution = checked_resolution(resolution)
    cells = np.stack([pooled(a.weights, resolution) for a in atts])  # (S, layers, H, rq, rk)
    top = top_of(cells)
    rq, rk = cells.shape[3:]
    data = labels(atts[0], tokens, key_tokens) | {
        "layer": layer,
        "steps": [int(s) if s.is_integer() else s for s in steps],
        "rq": rq,
        "rk": rk,
        "top": top,
        "scale": scale,
        "cells": quantized(cells, top),
        "pooledNote": pooled_note(*atts[0].shape[2:], rq, rk),
    }
    title = f"timeline ({len(steps)} steps)"

    def picture():
        heads = cells.shape[2]
        figure = new_figure("timeline", min(16.0, 1.8 * heads + 1.6), 2.9)
        notes = [
            f"{title}: {atts[0].layer_names[layer]} at step {data['steps'][-1]}",
            data["batchNote"],
            data["pooledNote"],
        ]
        draw_grid(
            figure,
            cells[-1, layer][None],
            [atts[0].layer_names[layer]],
            cmap=ink_colormap(),
            scale=scale,
            title="\n".join(n for n in notes if n),
        )
        return figure

    return View("timeline", title, data, picture)
