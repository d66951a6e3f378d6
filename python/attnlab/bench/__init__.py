"""``python -m attnlab bench``: attnlab against NumPy and PyTorch, side by side, one thread count.

Every row times each implementation once per round, rounds interleaved (so that clock and load
drift hit all of them alike), and reports the median time and the median of the per-round
time ratios. A round's sample follows a settling pause and one untimed call, and averages
enough back-to-back calls to last MIN_SAMPLE_S. GFLOP/s counts the matmul flops of the
operation (4 B H Lq Lk D for attention, halved when causal; the backward counts 2.5x the
forward); "% peak" divides by :func:`attnlab.arch.peak_gflops` at the same thread count, on
the arch the implementation runs on (attnlab forced to AVX2 against AVX2's peak; the peers
against the current arch's).
Peak memory is the growth of the process's peak RSS over the call (Linux: VmHWM, reset before
each call), inputs excluded. A "cold call" row instead times one call after COLD_IDLE_S of idle,
as a notebook cell makes it; a "single calls" row takes the median of single calls, each
timed on its own. With several arches (``arches``), each kernel row also times
attnlab on every other arch, as "attnlab [name]", in the same rounds.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from datetime import datetime, timezone

import numpy as np

import attnlab as al
from attnlab.bench.attention import attention_rows, long_sequence_memory, thread_scaling
from attnlab.bench.denormals import denormal_rows
from attnlab.bench.generation import generation_rows
from attnlab.bench.layers import block_rows, linear_rows, module_rows
from attnlab.bench.libraries import after_rows
from attnlab.bench.pretrained import pretrained_rows
from attnlab.bench.report import blas_arch, machine_name, print_table, write_json
from attnlab.bench.timing import COLD_IDLE_S, Row, add_arches, arch_peaks, summarize, time_row
from attnlab.bench.training import (
    autograd_rows,
    optimizer_rows,
    time_to_solve,
    training_rows,
)

# The environment variables that make torch's OpenMP and NumPy's OpenBLAS threads sleep as soon
# as a call ends instead of spinning (each read when its library loads).
WAIT_SETTINGS = ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT", "GOMP_SPINCOUNT")


def check_only(only: str | None) -> None:
    """Raises ValueError unless ``only`` is None or a regular expression."""
    if only is None:
        return
    if not isinstance(only, str):
        raise TypeError(f"only: expected a str or None, got {type(only).__name__}")
    try:
        re.compile(only)
    except re.error as e:
        raise ValueError(f"only: not a regular expression ({e}): {only!r}") from None


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def run(
    *,
    quick: bool = False,
    as_json: bool = False,
    threads: int | None = None,
    rounds: int | None = None,
    arch: str | None = None,
    only: str | None = None,
    out=None,
) -> list[Row]:
    """Runs every row and prints the table (or JSON). ``arch``: an arch name runs everything
    on it (``attnlab.arch.force``); "all" adds a row per other available arch to every kernel
    row (attention, linear, the building blocks). ``only``: a regular expression; only the
    rows whose name it matches (``re.search``) are timed, and the run's summaries (thread
    scaling, long-sequence memory, time to solve) are left out."""
    out = sys.stdout if out is None else out  # the stream of the call, not of the import
    check_only(only)
    forced = contextlib.nullcontext() if arch in (None, "all") else al.arch.force(arch)
    with forced:
        return _run(quick, as_json, threads, rounds, arch == "all", only, out)


def _run(
    quick: bool,
    as_json: bool,
    threads: int | None,
    rounds: int | None,
    all_arches: bool,
    only: str | None,
    out,
) -> list[Row]:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    torch = _torch()
    threads = threads or al.get_num_threads()
    rounds = rounds or (3 if quick else 7)
    saved = al.get_num_threads()
    al.set_num_threads(threads)
    if torch is not None:
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # NumPy then uses its own default thread count; the table says so
        threadpool_limits = None
    limits = threadpool_limits(limits=threads) if threadpool_limits else None
    scratch = tempfile.TemporaryDirectory(prefix="attnlab-bench-")  # the ONNX export
    try:
        # The FMA peak cannot be exceeded, so a lower reading only means that something else
        # ran meanwhile: take the best of one before and one after the rows, per arch.
        arches = al.arch.available() if all_arches else [al.arch.current()]
        before = arch_peaks(arches, threads)
        rows = (
            attention_rows(quick, torch)
            + linear_rows(quick, torch)
            + denormal_rows(quick, torch)
            + block_rows(quick, torch)
        )
        add_arches(rows, arches)  # the kernel rows; the model rows would take minutes per arch
        rows += (
            after_rows(quick, torch)
            + module_rows(quick, torch)
            + optimizer_rows(quick, torch)
            + autograd_rows(quick, torch)
            + training_rows(quick, torch)
            + pretrained_rows(quick, torch, threads, scratch.name)
            + generation_rows(quick, torch)
        )
        if only is not None:
            rows = [row for row in rows if re.search(only, row.name)]
        cold_idle_s = COLD_IDLE_S / 4 if quick else COLD_IDLE_S
        times = [time_row(row, rounds, cold_idle_s=cold_idle_s) for row in rows]
        after = arch_peaks(arches, threads)
        peaks = {a: max(before[a], after[a]) for a in arches}
        peak = peaks[al.arch.current()]
        for row, t in zip(rows, times):
            summarize(row, t, peak, peaks)
        summaries = only is None
        scaling = thread_scaling(quick, threads, rounds) if summaries else None
        memory = long_sequence_memory(quick, threads) if summaries else None
        solve = time_to_solve(quick) if summaries else None
    finally:
        scratch.cleanup()
        if limits is not None:
            limits.unregister()
        al.set_num_threads(saved)
        if torch is not None:
            torch.set_num_threads(torch_threads)
    info = dict(
        load_average=None if load is None else round(load, 2),
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine_name(),
        arch=al.arch.current(),
        arches=arches,
        threads=threads,
        rounds=rounds,
        cold_idle_s=cold_idle_s,
        peak_gflops=round(peak, 1),
        arch_peak_gflops={a: round(p, 1) for a, p in peaks.items()},
        numpy=np.__version__,
        torch=getattr(torch, "__version__", None),
        # The instruction set torch's own kernels run (ATEN_CPU_CAPABILITY=avx2 lowers it, so
        # that a machine with AVX-512 stands in for an AVX2-only one beside --arch avx2).
        torch_cpu=torch.backends.cpu.get_cpu_capability() if torch is not None else None,
        numpy_threads_limited=threadpool_limits is not None,
        numpy_blas=blas_arch(),
        # How long the other libraries' idle threads keep spinning (the rows right after them).
        wait_settings={k: os.environ[k] for k in WAIT_SETTINGS if k in os.environ},
        only=only,
    )
    (write_json if as_json else print_table)(info, rows, scaling, memory, solve, out)
    return rows
