"""Rotary position embedding (cpp/src/kernels/positional.hpp) against the float64 oracle and
finite differences, on every arch, and RoPE's defining property."""

import numpy as np
import pytest

import attnlab as al
import reference_blocks as ref
from reference_blocks import DTYPE_IDS, DTYPES, gradcheck, randn, tol

F = al.functional

# (D, rotary_dim): full rotation over SIMD tails, and partial rotation with odd D.
DIMS = [(2, None), (8, None), (18, None), (34, None), (1026, None), (9, 4), (17, 16), (7, 0)]


@pytest.mark.parametrize("interleaved", [False, True], ids=["half", "interleaved"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("dim,rotary_dim", DIMS)
def test_matches_oracle(arch, rng, interleaved, dtype, dim, rotary_dim):
    x = randn(rng, (2, 5, dim), dtype)
    opts = dict(rotary_dim=rotary_dim, interleaved=interleaved, base=500.0)
    np.testing.assert_allclose(
        F.rope(x, **opts), ref.rope(x, np.arange(5), **opts), **tol(dtype, 2)
    )


def test_positions(rng):
    x = randn(rng, (2, 3, 4, 6), np.float64)  # (B, H, L, D)
    pos = np.array([5, 0, 9, 1000])
    np.testing.assert_allclose(F.rope(x, pos), ref.rope(x, pos), **tol(np.float64, 10))
    per_batch = np.array([[0, 1, 2, 3], [7, 8, 9, 10]])[:, None, :]  # (B, 1, L)
    np.testing.assert_allclose(F.rope(x, per_batch), ref.rope(x, per_batch), **tol(np.float64, 10))
    fractional = np.array([0.5, 1.25, 2.0, 3.75])
    np.testing.assert_allclose(
        F.rope(x, fractional), ref.rope(x, fractional), **tol(np.float64, 10)
    )


@pytest.mark.parametrize("interleaved", [False, True], ids=["half", "interleaved"])
def test_relative_position_property(arch, rng, interleaved):
    # <rope(q, m), rope(k, n)> depends on m - n only.
    q, k = randn(rng, (1, 16), np.float64), randn(rng, (1, 16), np.float64)

    def score(m, n):
        qm = F.rope(q, np.array([m]), interleaved=interleaved)
        kn = F.rope(k, np.array([n]), interleaved=interleaved)
        return (qm @ kn.T).item()

    for delta in (0, 1, 5, -3):
        scores = [score(n + delta, n) for n in (0, 7, 100, 4000)]
        np.testing.assert_allclose(scores, scores[0], rtol=1e-10, atol=1e-10)
    assert abs(score(1, 0) - score(2, 0)) > 1e-6


@pytest.mark.parametrize("interleaved", [False, True], ids=["half", "interleaved"])
def test_gradcheck_and_inverse(arch, rng, interleaved):
    x, g = randn(rng, (3, 10), np.float64), randn(rng, (3, 10), np.float64)
    pos = np.array([2, 0, 11])
    opts = dict(rotary_dim=6, interleaved=interleaved)
    dx = F.rope_backward(g, pos, **opts)
    gradcheck(lambda v: F.rope(v, pos, **opts), [x], [dx], g)
    np.testing.assert_allclose(F.rope_backward(F.rope(x, pos, **opts), pos, **opts), x, atol=1e-13)


def test_item_28_float32_angles_are_exact_at_large_positions(rng):
    # Angles in float64: the rotation at position 1e5 matches the oracle to float32 rounding.
    x = randn(rng, (3, 64), np.float32)
    pos = np.array([100_000, 100_001, 65_537])
    np.testing.assert_allclose(F.rope(x, pos), ref.rope(x, pos), atol=3e-6)


def test_strided_read_only_and_empty(rng):
    x = ref.read_only_strided(randn(rng, (4, 8), np.float32))
    saved = x.copy()
    np.testing.assert_array_equal(F.rope(x), F.rope(saved))
    np.testing.assert_array_equal(x, saved)
    assert F.rope(np.zeros((2, 0, 8), np.float64)).shape == (2, 0, 8)
    assert F.rope_backward(np.zeros((3, 0), np.float64)).shape == (3, 0)


def test_errors(rng):
    x = randn(rng, (4, 6), np.float32)
    with pytest.raises(
        ValueError, match=r"rotary_dim: expected an even int in \[0, 6\] \(D\), got 3"
    ):
        F.rope(x, rotary_dim=3)
    with pytest.raises(ValueError, match="rotary_dim: expected an even int"):
        F.rope(x, rotary_dim=8)
    with pytest.raises(ValueError, match="rotary_dim: expected an even int"):
        F.rope(randn(rng, (4, 5), np.float32))  # odd D needs an explicit rotary_dim
    with pytest.raises(ValueError, match=r"x: expected 2 to 32 dimensions \(\.\.\., L, D\)"):
        F.rope(x[0])
    with pytest.raises(TypeError, match="positions: expected a NumPy array of ints or floats"):
        F.rope(x, np.ones(4, bool))
    with pytest.raises(ValueError, match=r"positions: shape \(3,\) is not broadcastable to \(4,\)"):
        F.rope(x, np.arange(3))
    with pytest.raises(ValueError, match="base: expected a number > 0"):
        F.rope(x, base=0.0)
    with pytest.raises(TypeError, match="grad_out: expected dtype float32 or float64"):
        F.rope_backward(x.astype(np.int32))
