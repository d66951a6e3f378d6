"""Self-contained interactive views: head_view, model_view and timeline.

Each returns a :class:`View`, whose HTML carries its own JavaScript and CSS (the files in
``assets/``, inlined) and its data: no CDN, no require.js, no network request, so it shows
offline, in JupyterLab, Notebook 7, VS Code and in a saved file. Every rendering gets fresh
element ids, so several views work in one page.

Weights travel compactly: quantized to uint8 and base64-encoded. head_view keeps the
``top_k`` strongest keys of each query (lines beyond those would be invisible anyway);
model_view and timeline max-pool long matrices to ``resolution`` cells, so that 4096 tokens
render as fast as 128.
"""

from __future__ import annotations

import base64
import html as html_escape
import json
import os
import secrets
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from attnlab._validation import index, real_number
from attnlab.viz._inputs import Attention, attention, checked_index, nonempty, nonnegative, query_key_labels

LINES_PER_HEAD = 1 << 15
"""head_view's default budget: keys kept per query = this // Lq (at least 1, at most Lk)."""


def _asset(name: str) -> str:
    return resources.files("attnlab.viz").joinpath("assets", name).read_text(encoding="utf-8")


def _script_json(data: object) -> str:
    """JSON that cannot end the <script> it sits in, whatever the token strings hold."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


class View:
    """An interactive view: shows itself in a notebook (``_repr_html_``), as a full HTML
    document (``.html``) or in a file (``.save_html(path)``)."""

    def __init__(self, kind: str, title: str, data: dict):
        self.kind = kind
        self.title = title
        self._data = _script_json(data)

    def _fragment(self) -> str:
        element = f"attnlab-{secrets.token_hex(8)}"
        return (
            f'<div class="attnlab-view" id="{element}" data-kind="{self.kind}"></div>\n'
            f"<style>{_asset('views.css')}</style>\n"
            f"<script>{_asset('common.js')}\n{_asset(self.kind + '.js')}\n"
            f'attnlabViews.{self.kind}(document.getElementById("{element}"), {self._data});</script>'
        )

    def _repr_html_(self) -> str:
        return self._fragment()

    @property
    def html(self) -> str:
        """A complete, self-contained HTML document holding this view."""
        return document([self], self.title)

    def save_html(self, path: str | os.PathLike) -> Path:
        """Writes ``.html`` to ``path`` atomically (a temporary file renamed over it)."""
        return save_document(self.html, path)

    def __repr__(self) -> str:
        return f"<attnlab View {self.kind}: {self.title}>"


def document(views: Sequence[View], title: str = "attnlab") -> str:
    """One HTML document holding several views (each keeps its own ids and data)."""
    body = "\n".join(view._fragment() for view in views)
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<link rel="icon" href="data:,"><title>{html_escape.escape(title)}</title></head>\n'
            f"<body>\n{body}\n</body></html>\n")


def save_document(text: str, path: str | os.PathLike) -> Path:
    """Writes ``text`` to ``path`` through a temporary file in the same directory, fsync and
    rename, so that an interrupted save leaves any older file whole."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private (0600); a saved view gets what open() would give it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _view_input(weights: object, name: str, batch_index: object) -> Attention:
    return nonempty(nonnegative(attention(weights, name, batch_index=batch_index), name), name)


def _labels(att: Attention, tokens: object, key_tokens: object) -> dict:
    queries, keys = query_key_labels(tokens, key_tokens, *att.shape[2:])
    return {"tokens": queries, "keyTokens": keys, "layers": att.layer_names,
            "heads": att.shape[1], "lq": att.shape[2], "lk": att.shape[3]}


def _top_keys(weights: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """(key indices, weights) of the ``top_k`` strongest keys of each row, shapes (..., top_k)."""
    if top_k >= weights.shape[-1]:
        keys = np.broadcast_to(np.arange(weights.shape[-1]), weights.shape)
        return keys, weights
    keys = np.argpartition(weights, -top_k, axis=-1)[..., -top_k:]
    return keys, np.take_along_axis(weights, keys, axis=-1)


def _quantize(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """round(255 * values / scale) as uint8; 0 where the scale is 0."""
    safe = np.where(scale > 0, scale, 1.0)
    return np.rint(np.clip(values / safe, 0.0, 1.0) * 255).astype(np.uint8)


def head_view(weights, tokens=None, key_tokens=None, *, layer: int = 0, heads=None,
              top_k: int | None = None, batch_index: int = 0) -> View:
    """Query tokens (left) and key tokens (right) joined by lines as strong as the attention,
    one colour per head; hover a token to see only its lines; pick the layer and the heads.

    ``layer``, ``heads``: what shows first (default: layer 0, every head). ``top_k``: keys
    kept per query (default ``LINES_PER_HEAD // Lq``, at least 1); each line's opacity is its
    weight relative to the strongest of its query.
    """
    att = _view_input(weights, "weights", batch_index)
    count, per_layer, lq, lk = att.shape
    layer = checked_index(layer, "layer", count, "layers") % count
    shown = list(range(per_layer)) if heads is None else sorted(
        {checked_index(h, f"heads[{i}]", per_layer, "H") % per_layer for i, h in enumerate(heads)})
    if top_k is None:
        top_k = max(1, LINES_PER_HEAD // lq)
    elif index(top_k, "top_k") < 1:
        raise ValueError(f"top_k: expected an int >= 1, got {top_k}")
    keys, kept = _top_keys(att.weights, min(int(top_k), lk))  # (layers, H, Lq, k)
    row_max = att.weights.max(axis=-1)  # (layers, H, Lq)
    data = _labels(att, tokens, key_tokens) | {
        "layer": layer, "shown": shown, "k": keys.shape[-1],
        "keyBytes": 2 if lk <= 1 << 16 else 4,
        "keys": _b64(keys.astype("<u2" if lk <= 1 << 16 else "<u4")),
        "weights": _b64(_quantize(kept, row_max[..., None])),
        "rowMax": _b64(row_max.astype("<f4")),
    }
    return View("head_view", f"head view ({lq} x {lk} tokens)", data)


def _pool(weights: np.ndarray, resolution: int) -> np.ndarray:
    """Max-pooled to at most ``resolution`` cells on each of the last two axes, so that a
    single strong weight stays visible in a long sequence."""
    for axis in (-2, -1):
        size = weights.shape[axis]
        if size > resolution:
            starts = (np.arange(resolution) * size) // resolution
            weights = np.maximum.reduceat(weights, starts, axis=axis)
    return weights


def _resolution(resolution: object) -> int:
    value = index(resolution, "resolution")
    if not 8 <= value <= 1024:
        raise ValueError(f"resolution: expected an int in [8, 1024], got {value}")
    return value


def model_view(weights, tokens=None, key_tokens=None, *, resolution: int = 128,
               batch_index: int = 0) -> View:
    """Every head as a thumbnail, layers down and heads across; click one to enlarge it and
    read its weights under the pointer.

    Each head is drawn on its own scale (its strongest weight is darkest). Sequences longer
    than ``resolution`` are max-pooled to that many cells per axis.
    """
    att = _view_input(weights, "weights", batch_index)
    pooled = _pool(att.weights, _resolution(resolution))  # (layers, H, rq, rk)
    scale = pooled.max(axis=(-2, -1))
    data = _labels(att, tokens, key_tokens) | {
        "rq": pooled.shape[2], "rk": pooled.shape[3],
        "cells": _b64(_quantize(pooled, scale[..., None, None])),
        "scale": scale.ravel().astype(float).round(6).tolist(),  # [layer * H + head]
    }
    return View("model_view", f"model view ({att.shape[0]} layers x {att.shape[1]} heads)", data)


def _snapshots(snapshots: object, batch_index: object) -> tuple[list[float], list[Attention]]:
    if not isinstance(snapshots, Sequence) or isinstance(snapshots, (str, bytes)):
        raise TypeError(f"snapshots: expected a list of (step, weights), got {type(snapshots).__name__}")
    if not snapshots:
        raise ValueError("snapshots: the list is empty")
    steps, atts = [], []
    for i, item in enumerate(snapshots):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValueError(f"snapshots[{i}]: expected a (step, weights) pair")
        steps.append(real_number(item[0], f"snapshots[{i}] step"))
        atts.append(_view_input(item[1], f"snapshots[{i}] weights", batch_index))
        if atts[i].shape != atts[0].shape:
            raise ValueError(f"snapshots[{i}] weights: shape (layers, H, Lq, Lk) = {atts[i].shape} "
                             f"does not match snapshots[0]'s {atts[0].shape}")
    return steps, atts


def timeline(snapshots, tokens=None, key_tokens=None, *, layer: int = 0, resolution: int = 96,
             batch_index: int = 0) -> View:
    """How a layer's heads change over training: a slider over ``snapshots``, a list of
    (step, weights) with weights in any accepted layout, all of one shape.

    Each head keeps one scale over all steps (its strongest weight at any step is darkest), so
    a pattern that sharpens gets darker. Long sequences are max-pooled to ``resolution``.
    """
    steps, atts = _snapshots(snapshots, batch_index)
    layer = checked_index(layer, "layer", atts[0].shape[0], "layers") % atts[0].shape[0]
    pooled = np.stack([_pool(a.weights, _resolution(resolution)) for a in atts])  # (S, layers, H, rq, rk)
    scale = pooled.max(axis=(0, -2, -1))  # (layers, H)
    data = _labels(atts[0], tokens, key_tokens) | {
        "layer": layer, "steps": [int(s) if s.is_integer() else s for s in steps],
        "rq": pooled.shape[3], "rk": pooled.shape[4],
        "cells": _b64(_quantize(pooled, scale[None, ..., None, None])),
    }
    return View("timeline", f"timeline ({len(steps)} steps)", data)
