"""Seeing attention: static plots (matplotlib, ``pip install attnlab[viz]``) and
self-contained interactive HTML views (no extra needed, no network).

Every function takes attention weights as one head (Lq, Lk), a layer (H, Lq, Lk), a model
(layers, H, Lq, Lk), a list of per-layer (H, Lq, Lk) or (1, H, Lq, Lk) arrays, or a
``record_attention`` record (``batch_index`` picks the batch item).
"""

from attnlab.viz.history import curves
from attnlab.viz.html import View, head_view, model_view, timeline
from attnlab.viz.matrices import heads, heatmap, layers
from attnlab.viz.positions import positional

__all__ = ["View", "curves", "head_view", "heads", "heatmap", "layers", "model_view", "positional",
           "timeline"]
