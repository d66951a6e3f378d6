"""Argument checks shared by every public function: clear errors naming the argument."""

from __future__ import annotations

import math
import operator

import numpy as np

from attnlab._memory import contiguous

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_array(
    x: object, name: str, like: np.ndarray | None = None, like_name: str = "q"
) -> np.ndarray:
    """``x`` as a float32/float64 ndarray, never cast or copied; TypeError otherwise.

    With ``like``, the dtype must also match ``like``'s (mixed precision is an error, not a cast).
    """
    if isinstance(x, (np.matrix, np.ma.MaskedArray)) or not isinstance(x, np.ndarray):
        raise TypeError(
            f"{name}: expected a NumPy array of float32 or float64, got {type(x).__name__}"
        )
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected dtype float32 or float64, got {x.dtype}")
    if like is not None and x.dtype != like.dtype:
        raise TypeError(f"{name}: dtype {x.dtype} does not match {like_name}'s dtype {like.dtype}")
    return x


def bool_array(x: object, name: str, hint: str = "") -> np.ndarray:
    """``x`` as a bool ndarray; TypeError for any other dtype (no truthiness casts)."""
    if isinstance(x, (np.matrix, np.ma.MaskedArray)) or not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a NumPy bool array, got {type(x).__name__}")
    if x.dtype != np.bool_:
        raise TypeError(f"{name}: expected dtype bool, got {x.dtype}{hint}")
    return x


def expect_ndim(x: np.ndarray, name: str, allowed: range, layout: str) -> None:
    if x.ndim not in allowed:
        raise ValueError(
            f"{name}: expected {allowed.start} to {allowed.stop - 1} dimensions {layout}, "
            f"got {x.ndim} with shape {x.shape}"
        )


def expect_size(x: np.ndarray, name: str, axis: int, expected: int, axis_name: str) -> None:
    if x.shape[axis] != expected:
        raise ValueError(
            f"{name}: axis {axis} ({axis_name}) has size {x.shape[axis]}, expected {expected} "
            f"(shape {x.shape})"
        )


def broadcast(x: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only broadcast view of ``x`` with ``shape``; ValueError when it does not fit."""
    try:
        return np.broadcast_to(x, shape)
    except ValueError:
        raise ValueError(f"{name}: shape {x.shape} is not broadcastable to {shape}") from None


def sum_to_shape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sums ``x`` over the axes that broadcasting ``shape`` to ``x.shape`` expanded."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1
    )
    return x.sum(axis=axes, keepdims=True).reshape(shape) if axes else x.reshape(shape)


def real_number(x: object, name: str) -> float:
    """``x`` as a finite Python float; TypeError for non-numbers, ValueError for NaN/inf."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(x).__name__}")
    value = float(x)
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return value


def flag(x: object, name: str) -> bool:
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(x).__name__}")
    return bool(x)


def index(x: object, name: str) -> int:
    if isinstance(x, bool):
        raise TypeError(f"{name}: expected an int, got bool")
    try:
        return operator.index(x)
    except TypeError:
        raise TypeError(f"{name}: expected an int, got {type(x).__name__}") from None


def as_rows(x: np.ndarray, trailing: int = 1) -> np.ndarray:
    """``x`` as a C-contiguous (rows, n) array, n = the product of its last ``trailing`` sizes.

    A view when ``x`` already is C-contiguous, else an explicit copy; never written to.
    """
    split = x.ndim - trailing
    return contiguous(x).reshape(math.prod(x.shape[:split]), math.prod(x.shape[split:]))


def expect_shape(x: np.ndarray, name: str, shape: tuple[int, ...], what: str) -> None:
    if x.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)} ({what}), got {x.shape}")


def int_array(x: object, name: str) -> np.ndarray:
    """``x`` as a C-contiguous int64 array (integer dtypes only; an explicit copy if needed)."""
    if isinstance(x, (np.matrix, np.ma.MaskedArray)) or not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a NumPy array of integers, got {type(x).__name__}")
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name}: expected an integer dtype, got {x.dtype}")
    return x.astype(np.int64, order="C", copy=False)


def axis_index(axis: object, ndim: int, name: str = "axis") -> int:
    """``axis`` normalized to [0, ndim); ValueError when out of range."""
    axis = index(axis, name)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: {axis} is out of range for an array of {ndim} dimensions")
    return axis % ndim


def positive(x: object, name: str) -> float:
    value = real_number(x, name)
    if value <= 0:
        raise ValueError(f"{name}: expected a number > 0, got {value}")
    return value


def positive_int(x: object, name: str) -> int:
    """``x`` as an int >= 1 (a count of heads, a layer width): TypeError for non-ints."""
    value = index(x, name)
    if value < 1:
        raise ValueError(f"{name}: must be positive, got {value}")
    return value


def at_least(x: object, name: str, minimum: int) -> int:
    """``x`` as an int >= ``minimum``: TypeError for non-ints, ValueError below."""
    value = index(x, name)
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return value
