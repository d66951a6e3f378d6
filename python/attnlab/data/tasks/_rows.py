"""What the generators share: split sizes, distinct rows, next-token layouts, option checks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from attnlab._random import check_seed
from attnlab.data.task import IGNORE, Split, positive_int

DEFAULT_TRAIN = 10_000
DEFAULT_TEST = 1_000
FORMATS = ("lm", "seq2seq")

Draw = Callable[[np.random.Generator, int], np.ndarray]


def generator(seed: object) -> np.random.Generator:
    return np.random.default_rng(check_seed(seed))


def split_sizes(n_train: int | None, n_test: int | None, space: int) -> tuple[int, int]:
    """Row counts of the two splits, defaulting to 10000 / 1000 but at most what ``space``
    distinct rows allow (the test split then takes a fifth of the space)."""
    n_test = min(DEFAULT_TEST, space // 5) if n_test is None else positive_int(n_test, "n_test")
    n_train = (
        min(DEFAULT_TRAIN, space - n_test) if n_train is None else positive_int(n_train, "n_train")
    )
    if n_train + n_test > space or min(n_train, n_test) < 1:
        raise ValueError(
            f"n_train + n_test: these options allow {space} distinct rows, too few for "
            f"n_train={n_train} and n_test={n_test} (each at least 1)"
        )
    return n_train, n_test


def distinct_rows(draw: Draw, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct rows from ``draw(rng, m)`` (an (m, K) array), in the order drawn.

    Splitting the result keeps train and test disjoint. Raises ValueError when a generous
    budget of draws does not find enough (the space of rows is too small).
    """
    seen: set[bytes] = set()
    kept: list[np.ndarray] = []
    drawn, budget = 0, 20 * n + 100_000
    while len(kept) < n:
        if drawn >= budget:
            raise ValueError(
                f"n_train + n_test: found only {len(kept)} distinct rows of the {n} asked for "
                f"in {drawn} draws; ask for fewer rows or widen the task"
            )
        m = min(max(2 * (n - len(kept)), 1024), 1 << 20)
        for row in draw(rng, m):
            key = row.tobytes()
            if key not in seen:
                seen.add(key)
                kept.append(row)
                if len(kept) == n:
                    break
        drawn += m
    return np.stack(kept)


def next_token(sequences: np.ndarray, first_counted: int | np.ndarray) -> Split:
    """The lm layout of whole sequences: inputs = seq[:, :-1], targets = seq[:, 1:], with the
    targets before input position ``first_counted`` (one for all rows, or one per row) set to
    IGNORE."""
    targets = sequences[:, 1:].copy()
    before = np.arange(targets.shape[1]) < np.asarray(first_counted).reshape(-1, 1)
    targets[np.broadcast_to(before, targets.shape)] = IGNORE
    return Split(inputs=np.ascontiguousarray(sequences[:, :-1]), targets=targets)


def choice(value: object, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {allowed}, got {value!r}")
    return value


def even_length(length: object, minimum: int) -> int:
    length = positive_int(length, "length", minimum)
    if length % 2:
        raise ValueError(f"length: expected an even int, got {length}")
    return length


def head_tail(rows: Split, n_train: int) -> tuple[Split, Split]:
    """The first ``n_train`` rows (train) and the rest (test)."""

    def part(index: slice) -> Split:
        return Split(
            inputs=rows.inputs[index],
            targets=rows.targets[index],
            source=None if rows.source is None else rows.source[index],
            key_mask=None if rows.key_mask is None else rows.key_mask[index],
        )

    return part(slice(0, n_train)), part(slice(n_train, None))
