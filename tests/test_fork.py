"""The thread pool and the scratch cache across fork() (cpp/src/threads.cpp, workspace.cpp): a
child inherits the parent's pool without its threads, and must rebuild it rather than wait on
workers that do not exist; locks another parent thread held must not stay locked in the child.

Each scenario runs in a fresh interpreter of its own session, under a timeout: a regression
fails the test (the whole process group is killed) instead of hanging the suite.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

TIMEOUT = 60

# Python 3.12+ warns (DeprecationWarning) on fork() in a process with threads, which the pool
# makes this one; the warning is about the deadlocks these tests prove absent, so it is
# ignored by its exact text while every other warning stays an error (-W error).
PRELUDE = textwrap.dedent("""
    import multiprocessing, os, sys, threading, warnings
    import numpy as np
    import attnlab as al
    warnings.filterwarnings("ignore", message=r"This process .* is multi-threaded, use of fork",
                            category=DeprecationWarning)
    F = al.functional
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 4, 200, 32), dtype=np.float32) for _ in range(3))
    x = rng.standard_normal((300, 64), dtype=np.float32)
    w = rng.standard_normal((40, 64), dtype=np.float32)

    def compute():
        return (F.scaled_dot_product_attention(q, k, v, is_causal=True),
                *F.scaled_dot_product_attention_backward(q, q, k, v),
                F.linear(x, w), F.layer_norm(x, 64), F.softmax(x))

    def same(a, b):
        return all(np.array_equal(s, t) for s, t in zip(a, b))

    al.set_num_threads(3)
    expected = compute()  # the pool's workers exist and have run
""")


def run_script(body: str) -> str:
    """Runs PRELUDE + body in a new interpreter (-W error) and returns its stdout."""
    proc = subprocess.Popen(
        [sys.executable, "-W", "error", "-c", PRELUDE + textwrap.dedent(body)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"timed out after {TIMEOUT} s: a forked child hung")
    assert proc.returncode == 0, err
    assert err == "", err
    return out


def test_os_fork_child_runs_kernels_and_gets_the_parents_results():
    out = run_script("""
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                threads = al.get_num_threads()
                ok = same(compute(), expected) and same(compute(), expected)
                al.set_num_threads(2)
                ok = ok and same(compute(), expected)
                status = 0 if ok and threads == 3 else 1
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), same(compute(), expected))
    """)
    assert out.split() == ["0", "True"]


def test_multiprocessing_fork_pool_workers_run_kernels():
    out = run_script("""
        def job(i):
            return same(compute(), expected)

        with multiprocessing.get_context("fork").Pool(2) as pool:
            print(pool.map(job, range(4)))
    """)
    assert out.strip() == "[True, True, True, True]"


def test_fork_while_other_threads_run_kernels():
    """Forks while two threads keep the pool and the scratch cache busy: the child must not
    inherit a lock held by a thread it does not have."""
    out = run_script("""
        stop = threading.Event()

        def busy():
            while not stop.is_set():
                compute()

        threads = [threading.Thread(target=busy) for _ in range(2)]
        for t in threads:
            t.start()
        codes = []
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    status = 0 if same(compute(), expected) else 1
                finally:
                    os._exit(status)
            codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        stop.set()
        for t in threads:
            t.join()
        print(codes == [0] * 20)
    """)
    assert out.strip() == "True"
