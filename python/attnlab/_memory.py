"""The core's memory cache, seen from Python, and the arrays the stack allocates from it.

A training step frees and allocates arrays of the same sizes step after step. From the system
allocator each large one is fresh memory (glibc maps it and unmaps it again on free), and its
first touch costs a page fault and a zero-fill per page; from the core's cache it is memory
the last step already touched. Small arrays stay with NumPy, whose own allocator reuses them.
"""

from __future__ import annotations

import math

import numpy as np

from attnlab import _core

# Arrays of at least this many bytes come from the cache.
CACHED_BYTES = 1 << 18

# NumPy >= 2.1 can be told to reshape without copying (a ValueError when it cannot).
_RESHAPE_TAKES_COPY = np.lib.NumpyVersion(np.__version__) >= "2.1.0"


def empty(shape: int | tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialized C-contiguous array, from the core's cache when large."""
    if type(shape) is not tuple:
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    # A chain of small ops calls this for every result: the common case is checked first.
    if (
        math.prod(shape) * (dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)).itemsize
        < CACHED_BYTES
    ):
        return np.empty(shape, dtype)
    return _core.cached_empty(shape, dtype)


def empty_like(a: np.ndarray) -> np.ndarray:
    """An uninitialized C-contiguous array of ``a``'s shape and dtype."""
    return empty(a.shape, a.dtype)


def zeros(shape: int | tuple[int, ...], dtype) -> np.ndarray:
    out = empty(shape, dtype)
    out.fill(0)
    return out


def elementwise(ufunc: np.ufunc, a, b) -> np.ndarray:
    """``ufunc(a, b)``; when a and b are float arrays of one shape and dtype (a residual sum),
    a large result comes from the cache. Other operands go to NumPy as they are."""
    if (
        type(a) is np.ndarray
        and a.nbytes >= CACHED_BYTES
        and type(b) is np.ndarray
        and a.shape == b.shape
        and a.dtype == b.dtype
        and a.dtype.kind == "f"
    ):
        return ufunc(a, b, out=_core.cached_empty(a.shape, a.dtype))
    return ufunc(a, b)


def contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` itself when C-contiguous, else a C-contiguous copy (``np.ascontiguousarray``, but
    the copy of a large array comes from the cache, and a 0-d array stays 0-d)."""
    if a.flags.c_contiguous:
        return a
    out = empty(a.shape, a.dtype)
    copy_into(out, a)
    return out


def copy_into(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` for two arrays of one shape and dtype that do not overlap: on the
    core's pool when large with contiguous rows (a head split or merge, whose short rows NumPy
    copies one at a time), else ``np.copyto``."""
    if (
        src.nbytes >= CACHED_BYTES
        and src.ndim >= 2
        and not src.dtype.hasobject
        and src.strides[-1] == src.itemsize
        and dst.strides[-1] == dst.itemsize
    ):
        _core.copy_into(dst, src)
    else:
        np.copyto(dst, src)


def reshape(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a.reshape(shape)``: a view where one exists, else a copy from the cache (a ValueError
    when the sizes do not match)."""
    if a.flags.c_contiguous or not _RESHAPE_TAKES_COPY:
        return a.reshape(shape)
    try:
        return np.reshape(a, shape, copy=False)
    except ValueError:  # a copy is needed, or the sizes differ (raised again below)
        return contiguous(a).reshape(shape)


def empty_cache() -> int:
    """Hand back to the system the memory the core keeps for reuse (freed scratch and arrays,
    at most 512 MiB), as ``torch.cuda.empty_cache()`` does.

    Returns:
        The number of bytes released.
    """
    held = _core.workspace_cached_bytes()
    _core.workspace_trim()
    return held
