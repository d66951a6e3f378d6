"""Seeing attention: static plots (matplotlib, ``pip install attnlab[viz]``) and
self-contained interactive HTML views (no extra needed, no network).

Every function takes attention weights as one head (Lq, Lk), a layer (H, Lq, Lk), a model
(layers, H, Lq, Lk), a batch of a model (layers, B, H, Lq, Lk), a list of per-layer (H, Lq,
Lk) or (B, H, Lq, Lk) arrays (Hugging Face's ``outputs.attentions``, bertviz's layout), or a
``record_attention`` record; NumPy arrays, attnlab Tensors or torch tensors (any device,
float16 and bfloat16 included). ``batch_index`` picks the batch item where there is a batch
axis, and is an error where there is none. ``neuron_view`` takes a record made with
``record_attention(model, qk=True)``.
"""

from attnlab.viz.head_view import head_view
from attnlab.viz.history import curves
from attnlab.viz.html import View, document, save_document
from attnlab.viz.matrices import heads, heatmap, layers
from attnlab.viz.model_view import model_view
from attnlab.viz.neuron_view import neuron_view
from attnlab.viz.positions import positional
from attnlab.viz.timeline import timeline

__all__ = [
    "View",
    "curves",
    "document",
    "head_view",
    "heads",
    "heatmap",
    "layers",
    "model_view",
    "neuron_view",
    "positional",
    "save_document",
    "timeline",
]
