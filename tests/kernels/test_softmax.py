"""softmax and log_softmax (cpp/src/kernels/softmax.hpp) against the float64 oracle, PyTorch and
finite differences, on every arch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import attnlab as al
import reference_blocks as ref
from reference_blocks import (
    DTYPE_IDS,
    DTYPES,
    RELIABILITY_SIZES,
    SIZES,
    assert_backward_close,
    gradcheck,
    oracle_and_naive,
    randn,
    row_counts,
    tol,
)

F = al.functional

FUNCS = {
    "softmax": (F.softmax, F.softmax_backward, ref.softmax),
    "log_softmax": (F.log_softmax, F.log_softmax_backward, ref.log_softmax),
}
BACKWARD_ORACLES = {"softmax": ref.softmax_backward, "log_softmax": ref.log_softmax_backward}
NAMES = list(FUNCS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n", SIZES)
def test_matches_oracle(arch, rng, name, dtype, n):
    forward, _, oracle = FUNCS[name]
    x = randn(rng, (3, n), dtype) * 5
    np.testing.assert_allclose(forward(x), oracle(x), **tol(dtype, 2))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n", RELIABILITY_SIZES)
def test_backward_matches_oracle(arch, rng, name, dtype, n):
    """dx against the float64 formula for a few row counts, to assert_backward_close's
    tolerance (float32: twice the naive float32 error)."""
    _, backward, _ = FUNCS[name]
    for rows in row_counts(n):
        x, g = randn(rng, (rows, n), dtype) * 5, randn(rng, (rows, n), dtype)
        want, naive = oracle_and_naive(BACKWARD_ORACLES[name], g, x)
        assert_backward_close(backward(g, x), want, naive, dtype, name)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("axis", [0, 1, -1, -3])
def test_any_axis(rng, name, axis):
    forward, backward, oracle = FUNCS[name]
    x = randn(rng, (4, 5, 6), np.float64)
    np.testing.assert_allclose(forward(x, axis=axis), oracle(x, axis=axis), **tol(np.float64))
    g = randn(rng, x.shape, np.float64)
    moved = np.moveaxis(x, axis, -1)
    np.testing.assert_allclose(
        backward(g, x, axis=axis),
        np.moveaxis(backward(np.moveaxis(g, axis, -1), moved), -1, axis),
        **tol(np.float64),
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [1, 7, 17])
def test_gradcheck(arch, rng, name, n):
    forward, backward, _ = FUNCS[name]
    x, g = randn(rng, (3, n), np.float64), randn(rng, (3, n), np.float64)
    gradcheck(forward, [x], [backward(g, x)], g)


@pytest.mark.torch
@pytest.mark.parametrize("name", NAMES)
def test_matches_torch(rng, torch, name):
    forward, backward, _ = FUNCS[name]
    fn = getattr(torch.nn.functional, name)
    x, g = randn(rng, (5, 1025), np.float32) * 4, randn(rng, (5, 1025), np.float32)
    tx = torch.tensor(x, requires_grad=True)
    y = fn(tx, dim=-1)
    y.backward(torch.tensor(g))
    np.testing.assert_allclose(forward(x), y.detach().numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(backward(g, x), tx.grad.numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_item_21_large_logits_and_shift_invariance(arch, rng, dtype):
    x = randn(rng, (4, 33), dtype)
    for c in (-1e4, 1e4):
        shifted = x + dtype(c)  # in float32 the shift itself rounds x by up to 5e-4
        np.testing.assert_allclose(F.softmax(shifted), ref.softmax(shifted), **tol(dtype, 2))
        if dtype == np.float64:
            np.testing.assert_allclose(F.softmax(shifted), ref.softmax(x), atol=1e-11)
    big = (x * 1e8).astype(dtype)
    y = F.log_softmax(big)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, ref.log_softmax(big), rtol=1e-6)
    sums = F.softmax(randn(rng, (5, 1025), dtype)).sum(axis=-1, dtype=np.float64)
    assert np.abs(sums - 1).max() <= max(1e-6, 1025 * 1.2e-7)


def test_nan_stays_in_its_row(rng):
    x = randn(rng, (3, 9), np.float32)
    x[1, 4] = np.nan
    y = F.softmax(x)
    assert np.isnan(y[1]).all()
    assert np.isfinite(y[[0, 2]]).all()


def test_strided_read_only_and_empty(rng):
    x = ref.read_only_strided(randn(rng, (4, 9), np.float32))
    saved = x.copy()
    np.testing.assert_array_equal(F.log_softmax(x, axis=0), F.log_softmax(saved, axis=0))
    np.testing.assert_array_equal(F.softmax_backward(x, x), F.softmax_backward(saved, saved))
    np.testing.assert_array_equal(x, saved)
    flipped = saved[::-1, ::-1]  # negative strides
    np.testing.assert_array_equal(F.softmax(flipped), F.softmax(flipped.copy()))
    np.testing.assert_array_equal(
        F.log_softmax_backward(flipped, flipped),
        F.log_softmax_backward(flipped.copy(), flipped.copy()),
    )
    assert F.softmax(np.zeros((0, 5), np.float64)).shape == (0, 5)
    assert F.log_softmax(np.zeros((5, 0), np.float64)).shape == (5, 0)


def test_errors(rng):
    x = randn(rng, (2, 3), np.float32)
    with pytest.raises(ValueError, match="axis: 2 is out of range for an array of 2 dimensions"):
        F.softmax(x, axis=2)
    with pytest.raises(TypeError, match="axis: expected an int, got float"):
        F.softmax(x, axis=1.0)
    with pytest.raises(ValueError, match="x: expected at least 1 dimension"):
        F.log_softmax(np.array(1.0))
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64, got float16"):
        F.softmax(x.astype(np.float16))
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(2, 3\)"):
        F.softmax_backward(x.T, x)


@settings(max_examples=60, deadline=None)
@given(
    x=arrays(
        np.float32,
        array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=40),
        elements=st.floats(-1e4, 1e4, width=32),
    ),
    shift=st.floats(-100, 100, width=32),
)
def test_properties(x, shift):
    # Rows sum to 1, log_softmax <= 0, and a shift of the whole row changes nothing beyond
    # float32 rounding of the shifted input.
    y = F.softmax(x)
    assert np.all(np.abs(y.sum(axis=-1, dtype=np.float64) - 1) <= max(1e-6, x.shape[-1] * 1.2e-7))
    assert np.all(F.log_softmax(x) <= 1e-6)
    shifted = x + np.float32(shift)
    np.testing.assert_allclose(F.softmax(shifted), ref.softmax(shifted), atol=1e-5, rtol=1e-4)
