"""The core's thread pool size."""

from __future__ import annotations

import operator

from attnlab import _core


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for every kernel (default: the usable cores, or ``ATTNLAB_NUM_THREADS``).

    Results are bitwise identical whatever the thread count.
    """
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n: expected an int, got {type(n).__name__}") from None
    if not 1 <= n <= 1024:
        raise ValueError(f"n: expected 1 <= n <= 1024, got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads kernels run on."""
    return _core.get_num_threads()
