"""Functional dropout with a counter-based mask: the same seed gives the same mask."""

from __future__ import annotations

import numpy as np

from attnlab import _core
from attnlab._memory import contiguous, empty_like
from attnlab._random import check_seed, next_seed
from attnlab._validation import flag, float_array, real_number
from attnlab.autograd.function import Function
from attnlab.tensor import Tensor


def _probability(p: object) -> float:
    p = real_number(p, "p")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p: expected 0 <= p < 1, got {p}")
    return p


def _apply(x: np.ndarray, p: float, seed: int) -> np.ndarray:
    x = contiguous(x)
    out = empty_like(x)
    _core.dropout_forward(x, p, seed, out=out)
    return out


class _Dropout(Function):
    def forward(ctx, x, *, p, seed):
        ctx.p, ctx.seed = p, seed
        return _apply(x, p, seed)

    def backward(ctx, g):
        return _apply(g, ctx.p, ctx.seed)


def dropout(
    x: np.ndarray, p: float = 0.5, *, seed: int | None = None, training: bool = True
) -> np.ndarray:
    """Zeroes each element with probability ``p`` and scales the rest by 1 / (1 - p).

    Whether an element is kept depends only on ``seed`` and its flat (C-order) index, so the
    same seed gives the same mask and :func:`dropout_backward` regenerates it. Without a seed,
    one is drawn from :func:`attnlab.manual_seed`'s generator. ``p=0`` or ``training=False``
    returns an exact copy.
    """
    p = _probability(p)
    training = flag(training, "training")
    seed = check_seed(next_seed() if seed is None else seed) if training else 0
    if isinstance(x, Tensor):
        float_array(x.data, "x")
        return _Dropout.apply(x, p=p, seed=seed) if training and p > 0 else x
    x = float_array(x, "x")
    if not training:
        return x.copy()
    return _apply(x, p, seed)


def dropout_backward(
    grad_out: np.ndarray, p: float = 0.5, *, seed: int | None = None, training: bool = True
) -> np.ndarray:
    """Gradient of :func:`dropout`: grad_out through the forward's mask (pass its ``seed``)."""
    g = float_array(grad_out, "grad_out")
    p = _probability(p)
    if not flag(training, "training"):
        return g.copy()
    if seed is None:
        if p > 0:
            raise ValueError("seed: pass the forward's seed to the backward when p > 0")
        seed = 0
    return _apply(g, p, check_seed(seed))
