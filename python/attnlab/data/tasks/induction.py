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
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
) -> Task:
    """``length // 2`` distinct random symbols, then the same symbols again.

    kind "lm": inputs are the sequence without its last token (T = length - 1), targets the
    next token. Only the repeated half counts, except its first token, which cannot be
    predicted (it is the random first symbol again): with h = length // 2, the targets at input
    positions h .. length - 2 count (h - 1 of them). ``task.position_masks["repeated"]`` is that
    (T,) mask, for scoring second-half accuracy. The first half's symbols are distinct, so
    each continuation is unambiguous (vocab_size >= length // 2). E.g. length 8:
    ``5 2 7 0 5 2 7 0`` -> counted targets ``2 7 0``. Rows distinct, test rows not in train.
    """
    length = even_length(length, 4)
    half = length // 2
    vocab_size = positive_int(vocab_size, "vocab_size")
    if vocab_size < half:
        raise ValueError(
            f"vocab_size: expected >= length // 2 = {half} (the first half is distinct), "
            f"got {vocab_size}"
        )
    n_train, n_test = split_sizes(n_train, n_test, math.perm(vocab_size, half))

    def draw(rng: np.random.Generator, m: int) -> np.ndarray:
        return rng.random((m, vocab_size)).argsort(axis=1)[:, :half]

    first = distinct_rows(draw, n_train + n_test, generator(seed))
    rows = next_token(np.concatenate([first, first], axis=1), first_counted=half)
    repeated = np.arange(length - 1) >= half
    train, test = head_tail(rows, n_train)
    return Task(
        "induction",
        "lm",
        symbols(vocab_size),
        train,
        test,
        num_classes=vocab_size,
        position_masks={"repeated": repeated},
    )
