"""Character-level text that ships with Python, for a GPT that writes text."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from attnlab._validation import real_number
from attnlab.data.task import Split, Task, positive_int
from attnlab.data.tasks._rows import choice

CORPORA = ("pydoc_topics",)


def text(name: str = "pydoc_topics", *, block_size: int = 64, test_fraction: float = 0.1) -> Task:
    """Next-character prediction over a corpus from Python's standard library.

    "pydoc_topics": the help texts of ``pydoc_data.topics.topics`` (what ``help("if")``
    prints), joined in sorted key order by blank lines; about 465k characters and 103 distinct
    ones on Python 3.11 (the text varies between Python versions, and is fixed within one).

    kind "lm": vocab = the corpus's sorted characters, tokens joined with no separator. The
    first ``1 - test_fraction`` of the corpus trains, the rest tests; every window of
    ``block_size`` characters is a row (read-only views into the corpus, one per offset, so
    ``sample`` and ``batches`` draw windows at random offsets); targets are the next
    characters, all counted. E.g. the first row decodes as ``'The "assert" statement\\n*****...'``.
    """
    choice(name, "name", CORPORA)
    block_size = positive_int(block_size, "block_size")
    fraction = real_number(test_fraction, "test_fraction")
    if not 0 < fraction < 1:
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction}")
    from pydoc_data.topics import topics

    corpus = "\n\n".join(topics[key] for key in sorted(topics))
    vocab = tuple(sorted(set(corpus)))
    codes = np.frombuffer(corpus.encode("utf-32-le"), dtype=np.uint32)
    ids = np.searchsorted(np.array([ord(c) for c in vocab], dtype=np.uint32), codes)
    ids = ids.astype(np.int64)
    cut = round(len(ids) * (1 - fraction))
    if min(cut, len(ids) - cut) <= block_size:
        raise ValueError(
            f"block_size: {block_size} leaves no window in a split of "
            f"{min(cut, len(ids) - cut)} characters"
        )
    train, test = (_windows(part, block_size) for part in (ids[:cut], ids[cut:]))
    return Task(name, "lm", vocab, train, test, num_classes=len(vocab), separator="")


def _windows(ids: np.ndarray, block_size: int) -> Split:
    """Every (window, next-character window) pair of ``ids``, as read-only strided views."""
    return Split(
        inputs=sliding_window_view(ids[:-1], block_size),
        targets=sliding_window_view(ids[1:], block_size),
    )
