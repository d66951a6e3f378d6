"""Which instruction set the kernels run on.

The core compiles every kernel once per instruction set (sse2, avx2, avx512f on x86-64; neon64
on arm64) and picks the best one this CPU and OS support. Tests use :func:`force` to run every
kernel on every arch the machine has.

Every kernel runs with denormal floats flushed to zero (x86-64: MXCSR's FTZ and DAZ; arm64:
FPCR's FZ): a denormal input counts as zero and a result below ``np.finfo(dtype).tiny`` is
stored as zero, so no kernel takes the slow path some CPUs (Intel's) run denormals on. The
calling thread gets that mode only for the duration of the call and keeps its own afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from attnlab import _core

_forced: str | None = None


def available() -> list[str]:
    """Instruction sets usable on this machine, best first; the baseline comes last."""
    return list(_core.available_archs())


def current() -> str:
    """The instruction set kernels run on now."""
    return _core.current_arch()


def peak_gflops(threads: int | None = None) -> float:
    """This machine's float32 FMA throughput in GFLOP/s on ``threads`` threads (default: the
    current thread count), measured by a register-only FMA loop on the arch the kernels run on
    now (:func:`current`: the best one, or the one :func:`force` chose), ~0.5 s.

    The ceiling that the benchmark's "% of peak" refers to: an AVX2 kernel on a CPU with AVX-512
    is measured against AVX2's.
    """
    from attnlab._threads import get_num_threads

    if threads is None:
        threads = get_num_threads()
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads: expected an int, got {type(threads).__name__}")
    if not 1 <= threads <= 1024:
        raise ValueError(f"threads: expected 1 <= threads <= 1024, got {threads}")
    return float(_core.peak_gflops(threads))


@contextlib.contextmanager
def force(name: str) -> Iterator[str]:
    """Run every kernel on ``name`` inside the ``with`` block, then restore the previous choice.

    >>> with force(available()[-1]):
    ...     pass
    """
    global _forced
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, got {type(name).__name__}")
    usable = available()
    if name not in usable:
        raise ValueError(f"name: arch {name!r} is not available here; choose one of {usable}")
    previous = _forced
    _core.force_arch(name)
    _forced = name
    try:
        yield name
    finally:
        _forced = previous
        _core.force_arch(previous or "")
