"""The generation row: GPT.generate with and without its key/value cache."""

from __future__ import annotations

import numpy as np

import attnlab as al
from attnlab.bench.timing import Row

NO_CACHE = "attnlab, no cache"


def generation_rows(quick: bool, torch) -> list[Row]:
    """GPT.generate's greedy tokens with its key/value cache (a token a step) and without it
    (the whole context a step), the medium GPT's layers."""
    layers, heads, c, batch, prompt, new = (4, 2, 32, 2, 8, 8) if quick else (4, 8, 256, 4, 64, 128)
    model = al.models.GPT(64, prompt + new, n_layer=layers, n_head=heads, d_model=c)
    idx = np.random.default_rng(7).integers(0, 64, (batch, prompt))
    impls = {
        "attnlab": lambda: model.generate(idx, new, temperature=0),
        NO_CACHE: lambda: model.generate(idx, new, temperature=0, use_cache=False),
    }
    return [
        Row(
            f"GPT generate {new} tokens L{layers} C{c} H{heads} B{batch} prompt {prompt}",
            0.0,
            impls,
            f">= 5x faster than {NO_CACHE}",
        )
    ]
