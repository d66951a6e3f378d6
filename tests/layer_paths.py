"""The layers' two paths: the fused one (nn/fused_layer.py) and the Python composition that is
its oracle, which composition_only() forces."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import attnlab.models.gpt
import attnlab.nn.transformer_decoder
import attnlab.nn.transformer_encoder

# Each module that fuses, and the name it calls its fused forward by.
_FUSING = (
    (attnlab.nn.transformer_encoder, "fused_forward"),
    (attnlab.models.gpt, "fused_forward"),
    (attnlab.nn.transformer_decoder, "fused_decoder_forward"),
)


@contextlib.contextmanager
def composition_only() -> Iterator[None]:
    """No layer fuses while active: each runs its Python composition."""
    saved = [getattr(m, name) for m, name in _FUSING]
    for m, name in _FUSING:
        setattr(m, name, lambda *args, **kwargs: None)
    try:
        yield
    finally:
        for (m, name), fused in zip(_FUSING, saved):
            setattr(m, name, fused)
