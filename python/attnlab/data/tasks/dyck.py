"""Dyck languages: tag each prefix of a bracket string as balanced, open or invalid."""

from __future__ import annotations

import math

import numpy as np

from attnlab.data.task import Split, Task, positive_int
from attnlab.data.tasks._rows import distinct_rows, even_length, generator, split_sizes

BRACKETS = ("(", ")", "[", "]")
LABELS = ("balanced", "open", "invalid")
BALANCED, OPEN, INVALID = range(3)


def dyck(
    length: int = 16,
    kinds: int = 2,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
) -> Task:
    """Bracket strings over ``kinds`` bracket pairs ("()" and, with kinds 2, "[]"), each
    position tagged with the status of the prefix ending there, the Dyck-PTF formulation of
    Weiss et al. 2021 ("Thinking Like Transformers"): "balanced" (a complete well-nested
    string), "open" (well-nested so far, with brackets left to close) or "invalid" (no suffix
    can balance it: a closer with nothing open, or of the wrong kind; it stays invalid).

    kind "tagging": inputs (N, length), targets (N, length) label ids into
    ``("balanced", "open", "invalid")``, every position counts. Half the rows of each split are
    balanced strings drawn uniformly (the cycle lemma), half are such strings with one bracket
    replaced by another, so that every label occurs. E.g. ``( [ ] ) ( ]`` -> ``open open open
    balanced open invalid``. Rows distinct, test rows not in train; n_train + n_test may not
    exceed the number of balanced strings (Catalan(length / 2) * kinds ** (length / 2)).
    """
    length = even_length(length, 2)
    kinds = positive_int(kinds, "kinds")
    if kinds > 2:
        raise ValueError(f"kinds: expected 1 or 2, got {kinds}")
    pairs = length // 2
    n_balanced = math.comb(length, pairs) // (pairs + 1) * kinds**pairs  # Catalan * kinds^pairs
    n_train, n_test = split_sizes(n_train, n_test, n_balanced)
    rng = generator(seed)

    def balanced(rng: np.random.Generator, m: int) -> np.ndarray:
        return _balanced(rng, m, pairs, kinds)

    def corrupted(rng: np.random.Generator, m: int) -> np.ndarray:
        rows = _balanced(rng, m, pairs, kinds)
        at = (np.arange(m), rng.integers(0, length, m))
        rows[at] = (rows[at] + rng.integers(1, 2 * kinds, m)) % (2 * kinds)  # another bracket
        return rows

    train_good, test_good = n_train // 2, n_test // 2
    good = distinct_rows(balanced, train_good + test_good, rng)
    bad = distinct_rows(corrupted, n_train - train_good + n_test - test_good, rng)
    train, test = (
        _tagged(np.concatenate([good_part, bad_part]), rng)
        for good_part, bad_part in (
            (good[:train_good], bad[: n_train - train_good]),
            (good[train_good:], bad[n_train - train_good :]),
        )
    )
    vocab = BRACKETS[: 2 * kinds]
    return Task("dyck", "tagging", vocab, train, test, num_classes=len(LABELS), labels=LABELS)


def _balanced(rng: np.random.Generator, m: int, pairs: int, kinds: int) -> np.ndarray:
    """``m`` uniformly random balanced strings of ``pairs`` bracket pairs, as token ids
    (2 * kind for an opener, 2 * kind + 1 for its closer)."""
    # Cycle lemma: of the 2n + 1 rotations of n up-steps and n + 1 down-steps, exactly one
    # (starting after the first minimum of the prefix sums) stays >= 0 until its final step.
    steps = rng.permuted(np.tile([1] * pairs + [-1] * (pairs + 1), (m, 1)), axis=1)
    start = steps.cumsum(axis=1).argmin(axis=1) + 1
    rotation = (start[:, None] + np.arange(2 * pairs)) % (2 * pairs + 1)
    opens = np.take_along_axis(steps, rotation, axis=1) == 1  # (m, 2n)
    # Each opener draws a kind; its closer (found by a stack per row) takes the same kind.
    kind = rng.integers(0, kinds, opens.shape)
    stack = np.zeros((m, pairs), dtype=np.int64)
    depth = np.zeros(m, dtype=np.int64)
    rows = np.arange(m)
    tokens = np.empty(opens.shape, dtype=np.int64)
    for t in range(2 * pairs):
        is_open = opens[:, t]
        depth -= ~is_open
        stack[rows[is_open], depth[is_open]] = kind[is_open, t]
        tokens[:, t] = 2 * stack[rows, depth] + ~is_open
        depth += is_open
    return tokens


def _tagged(tokens: np.ndarray, rng: np.random.Generator) -> Split:
    """The rows in a shuffled order with their prefix labels."""
    tokens = tokens[rng.permutation(len(tokens))]
    m, length = tokens.shape
    labels = np.empty_like(tokens)
    stack = np.zeros((m, length), dtype=np.int64)
    depth = np.zeros(m, dtype=np.int64)
    invalid = np.zeros(m, dtype=bool)
    rows = np.arange(m)
    for t in range(length):
        kind, closes = tokens[:, t] // 2, tokens[:, t] % 2 == 1
        top = stack[rows, np.maximum(depth - 1, 0)]
        invalid |= closes & ((depth == 0) | (top != kind))
        pushes = ~closes & ~invalid
        stack[rows[pushes], depth[pushes]] = kind[pushes]
        depth += pushes.astype(np.int64) - (closes & ~invalid)
        labels[:, t] = np.where(invalid, INVALID, np.where(depth == 0, BALANCED, OPEN))
    return Split(inputs=tokens, targets=labels)
