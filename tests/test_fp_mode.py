"""The denormal policy (cpp/src/fp_mode.hpp): kernels run with denormals flushed to zero, on the
pool's threads and on the caller's for the duration of the call, and the caller's mode comes
back afterwards, whichever it was.

The mode is read through `_core._fp_control()`, the calling thread's control register itself
(MXCSR on x86-64, FPCR on arm64), so these tests see what the hardware sees.
"""

import platform

import numpy as np
import pytest

import attnlab as al
from attnlab import _core

F = al.functional
FLUSH = _core._FLUSH_DENORMALS
# x86's MXCSR keeps sticky exception flags (bits 0-5) in the same register: a kernel may raise
# "inexact", which is status, not mode.
STATUS = 0x3F if platform.machine() in ("x86_64", "AMD64") else 0

pytestmark = pytest.mark.skipif(FLUSH == 0, reason="no known denormal control on this CPU")


def _mode():
    return _core._fp_control() & ~STATUS


def _some_kernels(rng):
    q, k, v = (rng.standard_normal((2, 2, 40, 16), dtype=np.float32) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    F.scaled_dot_product_attention_backward(np.ones_like(out), q, k, v, is_causal=True)
    x = rng.standard_normal((64, 32), dtype=np.float32)
    F.linear(x, rng.standard_normal((48, 32), dtype=np.float32))
    F.layer_norm(x, (32,))
    _core._exp(x)


@pytest.fixture
def caller_mode():
    """Puts the calling thread's control register back after the test."""
    before = _core._fp_control()
    yield
    _core._set_fp_control(before)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("flush_before", [False, True], ids=["flush_off", "flush_on"])
def test_the_callers_mode_is_restored(
    arch, rng, caller_mode, restore_threads, threads, flush_before
):
    al.set_num_threads(threads)
    word = _core._fp_control()
    _core._set_fp_control(word | FLUSH if flush_before else word & ~FLUSH)
    expected = _mode()
    assert (expected & FLUSH == FLUSH) == flush_before
    _some_kernels(rng)
    assert _mode() == expected


def test_the_callers_mode_is_restored_after_a_failing_call(caller_mode):
    _core._set_fp_control(_core._fp_control() & ~FLUSH)
    expected = _mode()
    with pytest.raises(RuntimeError, match="task 3 failed"):
        _core._pool_selftest(8, 3)
    assert _mode() == expected


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_every_pool_task_runs_flushed(caller_mode, restore_threads, threads):
    al.set_num_threads(threads)
    _core._set_fp_control(_core._fp_control() & ~FLUSH)
    assert _core._pool_selftest_unflushed(64) == 0


def _flushed(x):
    """x with its denormals (below the dtype's smallest normal) replaced by zero."""
    return np.where(np.abs(x) < np.finfo(x.dtype).tiny, np.zeros_like(x), x)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_denormal_inputs_read_as_zero(arch, rng, caller_mode, restore_threads, threads, dtype):
    al.set_num_threads(threads)
    _core._set_fp_control(_core._fp_control() & ~FLUSH)
    tiny = np.finfo(dtype).tiny
    # Rows 0-7 denormal only; unflushed, times weights of 1e3 they would give normal products.
    x = rng.standard_normal((64, 32)).astype(dtype)
    x[:8] *= tiny / 16
    w = (1e3 * rng.standard_normal((48, 32))).astype(dtype)
    assert np.all(x[:8].astype(np.float64) @ w.T.astype(np.float64) != 0)  # unless flushed
    y = F.linear(x, w)
    ref = _flushed(x).astype(np.float64) @ w.T.astype(np.float64)
    assert np.all(y[:8] == 0)
    np.testing.assert_allclose(y, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_denormal_results_are_flushed_to_zero(arch, caller_mode, dtype):
    _core._set_fp_control(_core._fp_control() & ~FLUSH)
    f = np.finfo(dtype)
    # exp of these lies below the smallest normal: zero, not a denormal.
    low = np.log(f.tiny) - np.array([0.5, 3.0, 10.0])
    x = np.concatenate([low, [np.log(f.tiny) + 0.5, 0.0]]).astype(dtype)
    y = _core._exp(x)
    ref = _flushed(np.exp(x.astype(np.float64)).astype(dtype))
    assert np.all(y[:3] == 0)
    np.testing.assert_allclose(y, ref, rtol=1e-6 if dtype == np.float32 else 1e-15)
