"""The thread pool: sizing, errors from workers and concurrent callers. Bitwise equality across
thread counts is tested per kernel (tests/kernels/test_*.py)."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import attnlab as al
from attnlab import _core

F = al.functional


def _threads_in_fresh_process(env_value):
    env = dict(os.environ)
    env.pop("ATTNLAB_NUM_THREADS", None)
    if env_value is not None:
        env["ATTNLAB_NUM_THREADS"] = env_value
    out = subprocess.run([sys.executable, "-c", "import attnlab; print(attnlab.get_num_threads())"],
                         env=env, capture_output=True, text=True, check=True)
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


@pytest.mark.parametrize("bad, error, message", [
    (0, ValueError, r"n: expected 1 <= n <= 1024, got 0"),
    (-2, ValueError, r"got -2"),
    (2.0, TypeError, r"n: expected an int, got float"),
    ("2", TypeError, r"n: expected an int, got str"),
])
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
    inputs = [tuple(rng.standard_normal((2, 4, 150, 32), dtype=np.float32) for _ in range(3))
              for _ in range(6)]
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
