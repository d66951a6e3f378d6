"""The thread pool: sizing, errors from workers and concurrent callers. Bitwise equality across
thread counts is tested per kernel (tests/kernels/test_*.py)."""

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import attnlab as al
import kernel_calls
from attnlab import _core

F = al.functional


def _threads_in_fresh_process(env_value):
    env = dict(os.environ)
    env.pop("ATTNLAB_NUM_THREADS", None)
    if env_value is not None:
        env["ATTNLAB_NUM_THREADS"] = env_value
    out = subprocess.run(
        [sys.executable, "-c", "import attnlab; print(attnlab.get_num_threads())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def test_default_is_the_usable_cores_and_the_env_overrides_it():
    assert _threads_in_fresh_process(None) == len(os.sched_getaffinity(0))
    assert _threads_in_fresh_process("1") == 1
    assert _threads_in_fresh_process("3") == 3
    assert _threads_in_fresh_process("zero") == len(os.sched_getaffinity(0))


def test_set_and_get(restore_threads):
    al.set_num_threads(3)
    assert al.get_num_threads() == 3
    al.set_num_threads(1)
    assert al.get_num_threads() == 1


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (0, ValueError, r"n: expected 1 <= n <= 1024, got 0"),
        (-2, ValueError, r"got -2"),
        (2.0, TypeError, r"n: expected an int, got float"),
        ("2", TypeError, r"n: expected an int, got str"),
    ],
)
def test_set_num_threads_rejects_bad_counts(restore_threads, bad, error, message):
    with pytest.raises(error, match=message):
        al.set_num_threads(bad)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_item_15_an_exception_in_a_worker_reaches_python(restore_threads, n_threads):
    al.set_num_threads(n_threads)
    with pytest.raises(RuntimeError, match="task 5 failed"):
        _core._pool_selftest(64, 5)
    assert _core._pool_selftest(64, -1) == 64  # the pool still works afterwards


def test_concurrent_callers_match_serial_results(rng):
    """The GIL is released while kernels run; callers in several threads get serial results."""
    inputs = [
        tuple(rng.standard_normal((2, 4, 150, 32), dtype=np.float32) for _ in range(3))
        for _ in range(6)
    ]
    serial = [F.scaled_dot_product_attention(*x, is_causal=True) for x in inputs]
    results = [None] * len(inputs)

    def work(i):
        for _ in range(3):
            results[i] = F.scaled_dot_product_attention(*inputs[i], is_causal=True)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    for got, want in zip(results, serial):
        np.testing.assert_array_equal(got, want)


def _serial_results(calls):
    before = al.get_num_threads()
    al.set_num_threads(1)
    try:
        return {name: call() for name, call in calls.items()}
    finally:
        al.set_num_threads(before)


def _run_threads(target, count):
    """Runs target(i) in `count` threads; re-raises the first exception one of them raised."""
    errors = []

    def guarded(i):
        try:
            target(i)
        except BaseException as e:  # handed to the test's thread below
            errors.append(e)

    workers = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if errors:
        raise errors[0]


def test_resizing_the_pool_while_kernels_run_keeps_serial_results(restore_threads):
    """Per-worker scratch is sized by the job that uses it: a thread switching the pool between
    1, 2 and 3 threads (and measuring peak GFLOP/s, which once resized it) while others run
    attention, norms and linear never changes a bit of their results."""
    # Shapes that take every scratch path: per-head and per-query-block attention (B * H = 6
    # kv heads; 1 kv head), and linear's output tiles through scratch (n = 35, not a multiple
    # of 16).
    # The whole test in 10 s: serial results, the loops, and the calls running at the deadline.
    deadline = time.monotonic() + 7.0
    calls = kernel_calls.every_op(length=200, dim=32)
    chosen = [
        "attention",
        "attention_backward",
        "attention_window_gqa",
        "linear",
        "linear_backward",
        "layer_norm",
        "layer_norm_backward",
        "rms_norm_backward",
    ]
    calls = {name: calls[name] for name in chosen}
    serial = _serial_results(calls)
    resizes = [0]

    def toggle():
        al.arch.peak_gflops(2)
        # At least 31 resizes even where peak_gflops alone outlasts the deadline (under ASan).
        while time.monotonic() < deadline or resizes[0] <= 30:
            for n in (1, 2, 3):
                al.set_num_threads(n)
                resizes[0] += 1

    def run(i):
        if i == 0:
            return toggle()
        names = list(calls)
        j = i
        while time.monotonic() < deadline:
            name = names[j % len(names)]
            kernel_calls.assert_bitwise_equal(calls[name](), serial[name], name)
            j += 1

    _run_threads(run, 3)
    assert resizes[0] > 30


def test_eight_threads_calling_every_kernel_get_serial_results(restore_threads):
    calls = kernel_calls.every_op(length=150, dim=24)
    serial = _serial_results(calls)
    names = list(calls)

    def run(i):
        for j in range(3 * len(names)):
            name = names[(i + j) % len(names)]
            kernel_calls.assert_bitwise_equal(calls[name](), serial[name], name)

    _run_threads(run, 8)


@pytest.mark.parametrize("outer", [1, 8])
def test_parallel_for_inside_a_task_runs_serially_every_time(restore_threads, outer):
    """A task that calls parallel_for more than once runs each call serially on its own thread
    (the first inner call once left the thread marked outside the pool, so the second went
    parallel, and on the pool's calling thread re-locked the pool's own mutex)."""
    al.set_num_threads(2)
    for _ in range(20):
        assert _core._pool_selftest_nested(outer, 64, 3) == 0


_WORKER_AFFINITY = """
import json, os, sys
import numpy as np
import attnlab as al
al.set_num_threads(1)
before = set(os.listdir("/proc/self/task"))
al.set_num_threads(int(sys.argv[1]))
x = np.ones((64, 64), np.float32)
al.functional.linear(x, x)
for tid in sorted(map(int, set(os.listdir("/proc/self/task")) - before)):
    print(json.dumps(sorted(os.sched_getaffinity(tid))))
"""


def _worker_affinities(n_threads):
    out = subprocess.run(
        [sys.executable, "-c", _WORKER_AFFINITY, str(n_threads)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="binding needs Linux and two CPUs",
)
def test_workers_are_bound_to_the_cpus_after_the_first_when_there_are_enough():
    cpus = sorted(os.sched_getaffinity(0))
    # One worker per CPU but the first, which the caller keeps.
    assert _worker_affinities(len(cpus)) == [[cpu] for cpu in cpus[1:]]
    # More threads than CPUs: none bound, the scheduler spreads them.
    assert _worker_affinities(len(cpus) + 1) == [cpus] * len(cpus)
