"""The vectorized exps (cpp/src/kernels/exp.hpp) against NumPy in float64, every arch: the
softmax's exp, GELU's exp for x <= 0 (variant="nonpositive") and the attention softmax's 2^x
for x <= 0 (variant="base2_nonpositive").

Measured on Zen 4 (avx512f, avx2, sse2): max relative error 1.73e-7 in float32 over [-87.33, 88]
and 2.3e-16 in float64 over [-708, 709]; the nonpositive exp 8.6e-8 (sse2: 1.1e-7) over
[-87, 0]; 2^x 1.15e-7 (avx512f's table), 8.7e-8 (avx2's table, Zen 5) and 1.1e-7 (sse2) over
[-126, 0], and 2.3e-16 in float64 over [-1022, 0].
"""

import numpy as np
import pytest

from attnlab import _core


def _rel_error(y, x):
    ref = np.exp(x.astype(np.float64))
    return np.max(np.abs(y.astype(np.float64) - ref) / ref)


def test_float32_relative_error_over_softmax_range(arch):
    # From the smallest normal result up: below it results are flushed to zero.
    x = np.linspace(-87.33, 88.0, 1_000_003, dtype=np.float32)
    assert _rel_error(_core._exp(x), x) <= 1e-6


def test_float32_small_arguments(arch):
    x = np.linspace(-1.0, 1.0, 100_001, dtype=np.float32)
    assert _rel_error(_core._exp(x), x) <= 3e-7


def test_float64_relative_error(arch):
    x = np.linspace(-708.0, 709.0, 1_000_003)
    assert _rel_error(_core._exp(x), x) <= 1e-15


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(arch, dtype):
    x = np.array([-np.inf, np.inf, np.nan, 0.0, -1e30, 1e30], dtype=dtype)
    y = _core._exp(x)
    assert y[0] == 0.0 and y[1] == np.inf and np.isnan(y[2]) and y[3] == 1.0
    assert y[4] == 0.0 and y[5] == np.inf


def test_underflow_and_overflow_bounds(arch):
    f = np.finfo(np.float32)
    x = np.array([-87.5, -103.0, -104.0, -120.0, 88.72, 88.73], dtype=np.float32)
    y = _core._exp(x)
    ref = np.exp(x.astype(np.float64))
    # Every one of these is below the smallest normal number: flushed to zero, as every result
    # of every kernel there (the denormal policy, tests/test_fp_mode.py).
    assert np.all(ref[:4] < f.tiny) and np.all(y[:4] == 0.0)
    assert np.isfinite(y[4]) and abs(y[4] / ref[4] - 1) < 1e-6
    assert y[5] == np.inf
    d = _core._exp(np.array([-708.0, -744.0, 709.7, 710.0]))
    assert d[0] >= np.finfo(np.float64).tiny and d[1] == 0.0
    assert np.isfinite(d[2]) and d[3] == np.inf


@pytest.mark.parametrize("n", [0, 1, 7, 15, 16, 17, 33])
def test_tails_and_shapes(arch, n):
    x = np.linspace(-5, 5, n, dtype=np.float32)
    y = _core._exp(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_allclose(y, np.exp(x.astype(np.float64)), rtol=1e-6)
    m = np.linspace(-3, 3, 3 * n).reshape(3, n)
    np.testing.assert_allclose(_core._exp(m), np.exp(m), rtol=1e-15)


# The two variants for x <= 0: GELU's exp, and the attention softmax's 2^x on base-2 scores.
NONPOSITIVE = {"nonpositive": np.exp, "base2_nonpositive": np.exp2}


@pytest.mark.parametrize("variant", NONPOSITIVE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nonpositive_relative_error(arch, dtype, variant):
    """Over every argument whose result is a normal number, as eval's accuracy."""
    truth = NONPOSITIVE[variant]
    f = np.finfo(dtype)
    x = np.linspace(
        float(np.log(f.tiny) if truth is np.exp else np.log2(f.tiny)), 0.0, 1_000_003, dtype=dtype
    )
    x = x[truth(x.astype(np.float64)) >= f.tiny]  # the first may round below: flushed to 0
    y = _core._exp(x, variant=variant)
    assert y.dtype == dtype
    rel = np.max(np.abs(y - truth(x.astype(np.float64))) / truth(x.astype(np.float64)))
    assert rel <= (1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_array_equal(y[-1], 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_base2_above_zero(arch, dtype):
    """The attention keeps a row's shift until a score exceeds it by more than 8 (the
    kernels' slack), so its 2^x also meets x in (0, 8], at the same accuracy."""
    x = np.linspace(0.0, 8.0, 100_003, dtype=dtype)
    y = _core._exp(x, variant="base2_nonpositive")
    truth = np.exp2(x.astype(np.float64))
    assert np.max(np.abs(y - truth) / truth) <= (1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_array_equal(y[[0, -1]], [1.0, 256.0])


@pytest.mark.parametrize("variant", NONPOSITIVE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nonpositive_special_values_and_underflow(arch, dtype, variant):
    """exp(-inf) = 0 exactly and NaN stays NaN; below the normal range a result is 0 (the
    denormal policy, tests/test_fp_mode.py)."""
    truth = NONPOSITIVE[variant]
    f = np.finfo(dtype)
    x = np.array([-np.inf, np.nan, -1e30, -f.max, -0.0], dtype=dtype)
    y = _core._exp(x, variant=variant)
    assert y[0] == 0.0 and np.isnan(y[1]) and y[2] == 0.0 and y[3] == 0.0 and y[4] == 1.0
    tiny = float(np.log(f.tiny) if truth is np.exp else np.log2(f.tiny))
    x = np.linspace(tiny - 30, tiny, 10_001).astype(dtype)
    y = _core._exp(x, variant=variant)
    ref = truth(x.astype(np.float64))
    assert np.any(ref < f.tiny) and np.all(y[ref < f.tiny] == 0)


@pytest.mark.parametrize("variant", NONPOSITIVE)
@pytest.mark.parametrize("n", [1, 7, 17, 1023, 1025])
def test_nonpositive_tails(arch, n, variant):
    x = -np.linspace(0, 30, n, dtype=np.float32)
    np.testing.assert_allclose(
        _core._exp(x, variant=variant), NONPOSITIVE[variant](x.astype(np.float64)), rtol=1e-6
    )


def test_unknown_variant():
    with pytest.raises(
        ValueError,
        match="variant: expected one of 'general', 'nonpositive', 'base2_nonpositive', got 'exp10'",
    ):
        _core._exp(np.zeros(3, np.float32), variant="exp10")
