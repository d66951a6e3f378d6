"""The denormals row: linear on an input of denormal floats (below 2**-126 in magnitude),
most of whose products are denormal too, beside attnlab on a normal input of the same shape
and torch on the same denormal input. Arithmetic on denormals can take tens of times longer
(Intel's microcode assists) unless the core flushes them to zero; attnlab's row measures
whatever policy the core has. torch runs as it is by default: it flushes nothing unless
``torch.set_flush_denormal(True)``."""

from __future__ import annotations

import numpy as np

import attnlab as al
from attnlab.bench.layers import linear_operands, linear_row
from attnlab.bench.timing import Row

F = al.functional

# attnlab on the row's shape with a normal input: the time the denormal input is compared with.
NORMAL_INPUT = "attnlab, normal input"

# The scale of the denormal input: N(0, 1) draws times this lie below float32's smallest
# normal (1.18e-38: 11.8 standard deviations), and so do most products with N(0, 1) weights.
DENORMAL_SCALE = 1e-39


def denormal_input(shape: tuple[int, ...], seed: int = 2) -> np.ndarray:
    """float32 N(0, 1) draws scaled by DENORMAL_SCALE: denormal (or zero, below 1.4e-45)."""
    draws = np.random.default_rng(seed).standard_normal(shape)  # float64: no denormal yet
    return (draws * DENORMAL_SCALE).astype(np.float32)


def denormal_rows(quick: bool, torch) -> list[Row]:
    normal, w = linear_operands(quick)
    x = denormal_input(normal.shape)
    impls = {"attnlab": lambda: F.linear(x, w), NORMAL_INPUT: lambda: F.linear(normal, w)}
    return [linear_row(x, w, impls, torch, "<= 1.3x the normal-input time", " on denormals")]
