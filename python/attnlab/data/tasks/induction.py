"""Induction: a random sequence repeated, to be continued from its first occurrence."""

from __future__ import annotations

import math

import numpy as np

from attnlab.data.task import Task, positive_int, symbols
from attnlab.data.tasks._rows import (
    distinct_rows,
    even_length,
    generator,
    head_tail,
    next_token,
    split_sizes,
)


def induction(
    length: int = 32,
    vocab_size: int = 32,
    *,
    min_period: int | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
) -> Task:
    """Random symbols, then the last ``period`` of them again: a sequence to be continued from
    its earlier occurrence.

    kind "lm": inputs are the sequence without its last token (T = length - 1), targets the
    next token. By default every row repeats its first half (period h = length // 2): only the
    repeated half counts, except its first token, which cannot be predicted (it is the random
    first symbol again), so the targets at input positions h .. length - 2 count (h - 1 of
    them), and ``task.position_masks["repeated"]`` is that (T,) mask. E.g. length 8:
    ``5 2 7 0 5 2 7 0`` -> counted targets ``2 7 0``.

    ``min_period``: each row draws its period p from ``min_period .. length // 2`` instead and
    starts with ``length - 2 p`` symbols that are not repeated: ``3 5 2 7 5 2 7`` (p = 3) ->
    counted targets ``2 7``. No fixed offset then points at the earlier copy, so a model must
    find it by content (an induction head) rather than by position; the counted targets vary
    per row (the IGNORE targets mark the others) and there is no position mask.

    The symbols before the repeat are distinct, so each continuation is unambiguous
    (vocab_size >= length - smallest period). Rows distinct, test rows not in train.
    """
    length = even_length(length, 4)
    half = length // 2
    vocab_size = positive_int(vocab_size, "vocab_size")
    if min_period is None:
        periods = range(half, half + 1)
    else:
        periods = range(positive_int(min_period, "min_period", 2), half + 1)
        if not periods:
            raise ValueError(f"min_period: expected <= length // 2 = {half}, got {min_period}")
    distinct = length - periods.start  # the symbols before the repeat, at the longest
    if vocab_size < distinct:
        raise ValueError(
            f"vocab_size: expected >= {distinct} (the {distinct} symbols before the repeat "
            f"are distinct), got {vocab_size}"
        )
    space = sum(math.perm(vocab_size, length - p) for p in periods)
    n_train, n_test = split_sizes(n_train, n_test, space)
    t = np.arange(length)

    def draw(rng: np.random.Generator, m: int) -> np.ndarray:
        shuffled = rng.random((m, vocab_size)).argsort(axis=1)[:, :distinct]
        if len(periods) == 1:  # no draw: the default rows stay what they were
            period = np.full((m, 1), periods.start)
        else:
            period = rng.integers(periods.start, periods.stop, size=(m, 1))
        # Position t shows symbol t before the repeat (t < length - p), then symbol t - p; the
        # period rides along as a last column.
        shown = np.where(t < length - period, t, t - period)
        return np.concatenate([np.take_along_axis(shuffled, shown, axis=1), period], axis=1)

    drawn = distinct_rows(draw, n_train + n_test, generator(seed))
    rows = next_token(drawn[:, :-1], first_counted=length - drawn[:, -1])
    masks = {} if min_period is not None else {"repeated": np.arange(length - 1) >= half}
    train, test = head_tail(rows, n_train)
    return Task(
        "induction",
        "lm",
        symbols(vocab_size),
        train,
        test,
        num_classes=vocab_size,
        position_masks=masks,
    )
