"""Histogram: tag each token with how often it occurs in its sequence."""

from __future__ import annotations

from attnlab.data.task import Split, Task, positive_int, symbols
from attnlab.data.tasks._rows import distinct_rows, generator, head_tail, split_sizes


def histogram(
    length: int = 10,
    vocab_size: int = 8,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
) -> Task:
    """``length`` random symbols ("0" .. str(vocab_size - 1)), each labelled with the number
    of times it occurs in the whole sequence (Weiss et al. 2021, "Thinking Like Transformers").

    kind "tagging": inputs (N, length), targets (N, length) label ids, every position counts;
    label id c - 1 is the string str(c), labels "1" .. str(length). E.g. inputs
    ``3 1 3 0 3`` -> labels ``3 1 3 1 3``. Rows distinct, test rows not in train.
    """
    length = positive_int(length, "length")
    vocab_size = positive_int(vocab_size, "vocab_size")
    n_train, n_test = split_sizes(n_train, n_test, vocab_size**length)
    inputs = distinct_rows(
        lambda rng, m: rng.integers(0, vocab_size, (m, length)), n_train + n_test, generator(seed)
    )
    counts = (inputs[:, :, None] == inputs[:, None, :]).sum(axis=2)  # (N, T)
    train, test = head_tail(Split(inputs=inputs, targets=counts - 1), n_train)
    labels = tuple(str(c) for c in range(1, length + 1))
    return Task(
        "histogram", "tagging", symbols(vocab_size), train, test, num_classes=length, labels=labels
    )
