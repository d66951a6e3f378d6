"""Functional dropout (cpp/src/kernels/dropout.hpp): counter-based masks that the seed alone
determines, on every arch and thread count."""

import numpy as np
import pytest

import attnlab as al
from reference_blocks import DTYPE_IDS, DTYPES, gradcheck, randn

F = al.functional


def bits(x):
    return x.view(np.uint32 if x.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n", [1, 7, 17, 1025])
def test_item_25_same_seed_same_mask_and_scaling(arch, rng, dtype, n):
    x = randn(rng, (3, n), dtype) + dtype(10)  # no zeros, so y == 0 marks a dropped element
    y = F.dropout(x, 0.3, seed=42)
    np.testing.assert_array_equal(bits(y), bits(F.dropout(x, 0.3, seed=42)))
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept] * dtype(1 / 0.7))
    g = randn(rng, x.shape, dtype)
    dx = F.dropout_backward(g, 0.3, seed=42)
    np.testing.assert_array_equal(dx, np.where(kept, g * dtype(1 / 0.7), dtype(0)))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_dropped_nan_and_inf_become_zero(arch, dtype):
    """A dropped element is 0 whatever it held; a kept one keeps NaN and inf."""
    x = np.tile(np.array([np.nan, np.inf, -np.inf], dtype), 341)
    y = F.dropout(x, 0.5, seed=3)
    kept = F.dropout(np.ones_like(x), 0.5, seed=3) != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_array_equal(y[~kept], 0)
    np.testing.assert_array_equal(y[kept], x[kept])


def test_item_26_mask_is_shared_by_arches_threads_and_prefixes(rng):
    x = randn(rng, (70001,), np.float32) + np.float32(10)
    before = al.get_num_threads()
    results = []
    try:
        for name in al.arch.available():
            for threads in (1, 2):
                al.set_num_threads(threads)
                with al.arch.force(name):
                    results.append(F.dropout(x, 0.5, seed=7))
    finally:
        al.set_num_threads(before)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    # The mask is a function of the flat index: a prefix of the input drops the same elements.
    np.testing.assert_array_equal(F.dropout(x[:1000], 0.5, seed=7), results[0][:1000])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate(p):
    y = F.dropout(np.ones(200_000, np.float64), p, seed=3)
    kept = np.count_nonzero(y) / y.size
    assert abs(kept - (1 - p)) < 6 * np.sqrt(p * (1 - p) / y.size)
    different = F.dropout(np.ones(200_000, np.float64), p, seed=4)
    assert np.count_nonzero((y != 0) != (different != 0)) > 0


def test_neighbouring_columns_and_seeds_are_independent():
    """The per-column mixer leaves no visible pattern: neighbours at distances 1, 2, 16 and
    1024 and consecutive seeds keep together at the rate (1 - p)^2 of independent draws."""
    p, n = 0.5, 400_000
    kept = F.dropout(np.ones(n), p, seed=9) != 0
    other = F.dropout(np.ones(n), p, seed=10) != 0
    tolerance = 6 * np.sqrt(0.25 * 0.75 / n)
    for lag in (1, 2, 16, 1024):
        assert abs(np.mean(kept[:-lag] & kept[lag:]) - 0.25) < tolerance, lag
    assert abs(np.mean(kept & other) - 0.25) < tolerance


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_item_25_p_zero_and_eval_are_bitwise_identity(arch, rng, dtype):
    x = randn(rng, (5, 9), dtype)
    x[0, :3] = [np.nan, -0.0, np.inf]
    np.testing.assert_array_equal(bits(F.dropout(x, 0.0, seed=1)), bits(x))
    np.testing.assert_array_equal(bits(F.dropout(x, 0.5, training=False)), bits(x))
    np.testing.assert_array_equal(bits(F.dropout_backward(x, 0.0)), bits(x))


def test_gradcheck(rng):
    x, g = randn(rng, (3, 7), np.float64), randn(rng, (3, 7), np.float64)
    gradcheck(lambda v: F.dropout(v, 0.4, seed=11), [x], [F.dropout_backward(g, 0.4, seed=11)], g)


def test_global_seed_reproduces_unseeded_calls(rng):
    x = randn(rng, (64,), np.float32) + np.float32(10)
    al.manual_seed(5)
    a = F.dropout(x, 0.5)
    al.manual_seed(5)
    np.testing.assert_array_equal(a, F.dropout(x, 0.5))


def test_strided_read_only_and_empty(rng):
    wide = randn(rng, (4, 18), np.float32)
    x = wide[:, ::2]
    x.flags.writeable = False
    saved = x.copy()
    np.testing.assert_array_equal(F.dropout(x, 0.5, seed=2), F.dropout(saved, 0.5, seed=2))
    np.testing.assert_array_equal(x, saved)
    assert F.dropout(np.zeros((0, 3), np.float64), 0.5, seed=1).shape == (0, 3)
    assert F.dropout(np.array(2.0), 0.5, seed=1).shape == ()


def test_errors(rng):
    x = randn(rng, (3,), np.float32)
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=f"p: expected 0 <= p < 1, got {p}"):
            F.dropout(x, p, seed=0)
    with pytest.raises(ValueError, match="p: expected a finite number, got nan"):
        F.dropout(x, float("nan"), seed=0)
    with pytest.raises(ValueError, match="seed: pass the forward's seed"):
        F.dropout_backward(x, 0.5)
    with pytest.raises(ValueError, match=r"seed: expected an int in \[0, 2\*\*64\)"):
        F.dropout(x, 0.5, seed=-1)
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64, got int64"):
        F.dropout(np.ones(3, np.int64), 0.5, seed=0)
