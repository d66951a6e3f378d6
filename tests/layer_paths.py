"""The layers' two paths: the fused one (nn/fused_layer.py) and the Python composition that is
its oracle, which composition_only() forces."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import attnlab.models.gpt
import attnlab.nn.transformer_encoder

_FUSING = (attnlab.nn.transformer_encoder, attnlab.models.gpt)


@contextlib.contextmanager
def composition_only() -> Iterator[None]:
    """No layer fuses while active: each runs its Python composition."""
    saved = [m.fused_forward for m in _FUSING]
    for m in _FUSING:
        m.fused_forward = lambda *args, **kwargs: None
    try:
        yield
    finally:
        for m, fused in zip(_FUSING, saved):
            m.fused_forward = fused
