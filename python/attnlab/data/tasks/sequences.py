"""Prompt -> answer tasks over digits: copy, reverse, sort and multi-digit addition."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from attnlab.data.task import Split, Task, positive_int, symbols
from attnlab.data.tasks._rows import (
    FORMATS,
    choice,
    distinct_rows,
    generator,
    head_tail,
    next_token,
    split_sizes,
)

BOS = "<bos>"
SEP = "<sep>"


def prompt_answer(
    name: str,
    prompts: np.ndarray,
    answers: np.ndarray,
    n_train: int,
    *,
    base: tuple[str, ...],
    sep: str,
    format: str,
) -> Task:
    """The task of mapping each prompt row to its answer row; the first ``n_train`` rows train.

    "lm": one sequence ``prompt sep answer``, next-token targets counted on the answer only.
    "seq2seq": source = prompt, decoder inputs = ``<bos> answer[:-1]``, targets = answer.
    ``base`` are the token strings of the ids the rows use.
    """
    n = len(prompts)
    if format == "lm":
        sep_id = len(base)
        sequences = np.concatenate([prompts, np.full((n, 1), sep_id), answers], axis=1)
        rows = next_token(sequences, first_counted=prompts.shape[1])
        extra: dict = {"sep_id": sep_id}
        vocab = base + (sep,)
    else:
        bos_id = len(base)
        decoder = np.concatenate([np.full((n, 1), bos_id), answers[:, :-1]], axis=1)
        rows = Split(inputs=decoder, targets=answers.copy(), source=prompts.copy())
        extra = {"bos_id": bos_id}
        vocab = base + (BOS,)
    train, test = head_tail(rows, n_train)
    return Task(name, format, vocab, train, test, num_classes=len(vocab), **extra)


def _digit_generator(name: str, answer: Callable[[np.ndarray], np.ndarray], doc: str):
    """A generator of ``name``: random digit prompts, each answered by ``answer`` (a row-wise
    NumPy function)."""

    def generate(
        length: int = 8,
        vocab_size: int = 10,
        *,
        format: str = "lm",
        n_train: int | None = None,
        n_test: int | None = None,
        seed: int = 0,
    ) -> Task:
        length = positive_int(length, "length")
        vocab_size = positive_int(vocab_size, "vocab_size", 2)
        format = choice(format, "format", FORMATS)
        n_train, n_test = split_sizes(n_train, n_test, vocab_size**length)
        prompts = distinct_rows(
            lambda rng, m: rng.integers(0, vocab_size, (m, length)),
            n_train + n_test,
            generator(seed),
        )
        return prompt_answer(
            name,
            prompts,
            answer(prompts),
            n_train,
            base=symbols(vocab_size),
            sep=SEP,
            format=format,
        )

    generate.__name__ = generate.__qualname__ = name
    generate.__doc__ = doc
    return generate


copy = _digit_generator(
    "copy",
    lambda x: x.copy(),
    """Repeat ``length`` random symbols ("0" .. str(vocab_size - 1), vocab_size >= 2).

    format "lm": inputs and targets are the sequence ``digits <sep> digits`` shifted by one;
    only the answer's ``length`` targets count, e.g. ``3 1 4 1 <sep> 3 1 4 1`` (one row, with
    its last token dropped from the inputs). format "seq2seq": source ``3 1 4 1``, decoder
    inputs ``<bos> 3 1 4``, targets ``3 1 4 1``, all counted. Rows are distinct and the test
    rows are not in train; n_train / n_test default to 10000 / 1000, capped by the
    ``vocab_size ** length`` possible rows. Same seed, same rows.
    """,
)

reverse = _digit_generator(
    "reverse",
    lambda x: x[:, ::-1].copy(),
    """Write ``length`` random symbols backwards: ``3 1 4 2 <sep> 2 4 1 3``.

    Formats, counted positions and split sizes as in ``copy``.
    """,
)

sort = _digit_generator(
    "sort",
    lambda x: np.sort(x, axis=1),
    """Sort ``length`` random symbols by value: ``3 1 4 1 <sep> 1 1 3 4``.

    Formats, counted positions and split sizes as in ``copy``.
    """,
)


def add(
    n_digits: int = 2,
    *,
    format: str = "lm",
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
) -> Task:
    """Add two ``n_digits``-digit numbers (zero-padded), the sum written in reverse digit order
    (least significant first, ``n_digits + 1`` digits) as in minGPT's adder, so each answer
    digit depends only on digits already seen and the carry.

    format "lm": ``a + b = sum-reversed``, e.g. 03 + 25 = 028 is ``0 3 + 2 5 = 8 2 0``; only the
    ``n_digits + 1`` answer targets count. format "seq2seq": source ``0 3 + 2 5``, decoder
    inputs ``<bos> 8 2``, targets ``8 2 0``. Vocab: "0".."9", "+", then "=" (lm) or "<bos>".
    Pairs are distinct and test pairs are not in train; n_train / n_test default to 10000 /
    1000 capped by the ``10 ** (2 * n_digits)`` pairs (n_digits 2: 9000 / 1000, every pair).
    """
    n_digits = positive_int(n_digits, "n_digits")
    if n_digits > 18:
        raise ValueError(
            f"n_digits: expected an int <= 18 (sums must fit in int64), got {n_digits}"
        )
    format = choice(format, "format", FORMATS)
    n_train, n_test = split_sizes(n_train, n_test, 10 ** (2 * n_digits))
    digits = distinct_rows(
        lambda rng, m: rng.integers(0, 10, (m, 2 * n_digits)), n_train + n_test, generator(seed)
    )
    place = 10 ** np.arange(n_digits - 1, -1, -1, dtype=np.int64)
    total = digits[:, :n_digits] @ place + digits[:, n_digits:] @ place  # (N,)
    reversed_sum = total[:, None] // 10 ** np.arange(n_digits + 1, dtype=np.int64) % 10
    plus = np.full((len(digits), 1), 10)
    prompts = np.concatenate([digits[:, :n_digits], plus, digits[:, n_digits:]], axis=1)
    return prompt_answer(
        "add", prompts, reversed_sum, n_train, base=symbols(10) + ("+",), sep="=", format=format
    )
