"""check(): a claim about a notebook's own output, tested in the open.

A notebook that says "the loss falls below 0.1" should show that it did, with the numbers it
compared, and stop when it did not (so that the test run that executes the notebooks fails
too). ``check`` prints one line per claim and raises :class:`ClaimError` when the claim is
false::

    >>> check("the loss fell", 0.08 < 0.1, loss=0.08, threshold=0.1)
    ✓ the loss fell  (loss = 0.08, threshold = 0.1)
"""

from __future__ import annotations

import numbers

import numpy as np


class ClaimError(AssertionError):
    """A claim that :func:`check` found false: the notebook's text and its output disagree."""


def _shown(value: object) -> str:
    """A number (or a small array of them) as a short, readable string."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=3, suppress=True, threshold=20, edgeitems=3):
            return np.array2string(value, separator=", ")
    return str(value)


def _truth(condition: object) -> bool:
    """``condition`` as a bool: a Python or NumPy bool, or a one-element array of one."""
    if isinstance(condition, (bool, np.bool_)):
        return bool(condition)
    if isinstance(condition, np.ndarray) and condition.size == 1 and condition.dtype == np.bool_:
        return bool(condition.reshape(()))
    raise TypeError(
        f"condition: expected a bool (a comparison such as loss < 0.1), got "
        f"{type(condition).__name__}"
        + (
            f" of shape {condition.shape}: reduce it with .all() or .any()"
            if isinstance(condition, np.ndarray)
            else ""
        )
    )


def check(claim: str, condition: bool, **numbers: object) -> None:
    """Tests ``claim`` by ``condition`` and prints it with the ``numbers`` it rests on.

    Prints ``✓ claim  (name = value, ...)`` when ``condition`` holds; raises
    :class:`ClaimError` (an AssertionError), naming the claim and the numbers, when it does
    not. ``condition`` must be a bool (Python's or NumPy's), not an array: say ``.all()`` or
    ``.any()``, so that "every" and "some" are never confused.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise TypeError(f"claim: expected a non-empty str saying what is checked, got {claim!r}")
    holds = _truth(condition)
    shown = ", ".join(f"{name} = {_shown(value)}" for name, value in numbers.items())
    line = claim + (f"  ({shown})" if shown else "")
    if not holds:
        raise ClaimError(f"claim does not hold: {line}")
    print(f"✓ {line}", flush=True)


__all__ = ["ClaimError", "check"]
