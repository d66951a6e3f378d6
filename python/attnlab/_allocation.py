"""A budget on what building a module may allocate, so that a config read from a file cannot
ask for more memory than the file justifies.

``attnlab.load_model`` rebuilds a model from a checkpoint's config before loading its weights;
a hostile config (a vocabulary of 10**10 words, a million layers) would otherwise allocate
before any weight is compared. Inside :func:`limit`, every new parameter, position table and
layer copy is counted by :func:`reserve` first, and one past the budget raises ValueError
before it is allocated. Outside it, :func:`reserve` does nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# [elements left, arrays left] while a limit is in force
_left: ContextVar[list[int] | None] = ContextVar("attnlab_allocation_left", default=None)


@contextmanager
def limit(elements: int, arrays: int) -> Iterator[None]:
    """Within the block, new arrays counted by :func:`reserve` may hold at most ``elements``
    numbers in at most ``arrays`` arrays in all."""
    token = _left.set([elements, arrays])
    try:
        yield
    finally:
        _left.reset(token)


def reserve(*shapes: Iterable[int], what: str = "an array") -> None:
    """Counts arrays of ``shapes`` against the limit in force (if any) before they are made."""
    left = _left.get()
    if left is None:
        return
    elements = sum(math.prod(shape) for shape in shapes)
    if elements > left[0] or len(shapes) > left[1]:
        raise ValueError(
            f"{what} of {elements} numbers in {len(shapes)} arrays exceeds what "
            f"is left of the allocation limit ({left[0]} numbers in {left[1]} "
            "arrays)"
        )
    left[0] -= elements
    left[1] -= len(shapes)
