"""Modular addition over every pair, the grokking setup."""

from __future__ import annotations

import numpy as np

from attnlab._validation import real_number
from attnlab.data.task import Task, positive_int, symbols
from attnlab.data.tasks._rows import generator
from attnlab.data.tasks.sequences import prompt_answer


def modular_add(p: int = 59, *, train_fraction: float = 0.3, seed: int = 0) -> Task:
    """``a b = (a + b) mod p`` for every pair (a, b) in [0, p)^2, the grokking setup of Nanda
    et al. 2023 (who use p = 113; the default p = 59 has 3481 pairs and trains in seconds on a
    CPU). Any p >= 2 works; a prime p gives the Fourier structure those papers analyze.

    kind "lm": inputs ``a b =`` (T = 3), only the last target counts: e.g. p = 59, the row
    ``4 57 = 2``. Vocab: "0" .. str(p - 1), then "=". A seeded permutation puts
    ``round(train_fraction * p**2)`` pairs in train and every other pair in test.
    """
    p = positive_int(p, "p", 2)
    fraction = real_number(train_fraction, "train_fraction")
    n = p * p
    n_train = round(fraction * n)
    if not 0 < n_train < n:
        raise ValueError(
            f"train_fraction: expected a fraction leaving both splits non-empty for {n} pairs, "
            f"got {train_fraction}"
        )
    pair = generator(seed).permutation(n)
    prompts = np.stack([pair // p, pair % p], axis=1)
    answers = (prompts.sum(axis=1) % p)[:, None]
    return prompt_answer(
        "modular_add", prompts, answers, n_train, base=symbols(p), sep="=", format="lm"
    )
