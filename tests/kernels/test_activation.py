"""relu, silu and gelu (cpp/src/kernels/activation.hpp) against the float64 oracle, PyTorch and
finite differences, on every arch."""

from math import erf, sqrt

import numpy as np
import pytest

import attnlab as al
import reference_blocks as ref
from attnlab import _core
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

# name -> (forward, backward, oracle)
ACTIVATIONS = {
    "relu": (F.relu, F.relu_backward, ref.relu),
    "silu": (F.silu, F.silu_backward, ref.silu),
    "gelu": (F.gelu, F.gelu_backward, ref.gelu),
    "gelu_tanh": (
        lambda x: F.gelu(x, approximate="tanh"),
        lambda g, x: F.gelu_backward(g, x, approximate="tanh"),
        lambda x: ref.gelu(x, "tanh"),
    ),
}
NAMES = list(ACTIVATIONS)
BACKWARD_ORACLES = {
    "relu": ref.relu_backward,
    "silu": ref.silu_backward,
    "gelu": ref.gelu_backward,
    "gelu_tanh": lambda g, x, dtype: ref.gelu_backward(g, x, "tanh", dtype=dtype),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n", SIZES)
def test_matches_oracle(arch, rng, name, dtype, n):
    forward, _, oracle = ACTIVATIONS[name]
    x = randn(rng, (n,), dtype) * 4
    np.testing.assert_allclose(forward(x), oracle(x), **tol(dtype, 2))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n", RELIABILITY_SIZES)
def test_backward_matches_oracle(arch, rng, name, dtype, n):
    """dx against the float64 formula on (rows, n) inputs spanning both tails, to
    assert_backward_close's tolerance (float32: twice the naive float32 error)."""
    _, backward, _ = ACTIVATIONS[name]
    for rows in row_counts(n):
        x, g = randn(rng, (rows, n), dtype) * 4, randn(rng, (rows, n), dtype)
        want, naive = oracle_and_naive(BACKWARD_ORACLES[name], g, x)
        assert_backward_close(backward(g, x), want, naive, dtype, name)


@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs(arch, name):
    forward, backward, oracle = ACTIVATIONS[name]
    x = np.array([-1e4, -100.0, -30.0, -1e-30, 0.0, 1e-30, 30.0, 100.0, 1e4], np.float32)
    y = forward(x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, oracle(x), atol=1e-5, rtol=1e-6)
    assert np.isfinite(backward(np.ones_like(x), x)).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(arch, rng, name):
    forward, backward, _ = ACTIVATIONS[name]
    x = randn(rng, (2, 9), np.float64) * 3
    x[np.abs(x) < 1e-3] = 0.5  # keep relu's kink out of the finite differences
    g = randn(rng, x.shape, np.float64)
    gradcheck(forward, [x], [backward(g, x)], g)


@pytest.mark.torch
@pytest.mark.parametrize("name", NAMES)
def test_matches_torch(rng, torch, name):
    forward, backward, _ = ACTIVATIONS[name]
    tf = torch.nn.functional
    fn = {
        "relu": tf.relu,
        "silu": tf.silu,
        "gelu": tf.gelu,
        "gelu_tanh": lambda t: tf.gelu(t, approximate="tanh"),
    }[name]
    x, g = randn(rng, (4, 1025), np.float32) * 3, randn(rng, (4, 1025), np.float32)
    tx = torch.tensor(x, requires_grad=True)
    y = fn(tx)
    y.backward(torch.tensor(g))
    # atol 1e-5: PyTorch's tanh-gelu gradient saturates to exactly 0 below x ~ -4.5, where the
    # true value is still ~1e-6 (ours, from the sigmoid form).
    np.testing.assert_allclose(forward(x), y.detach().numpy(), atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(backward(g, x), tx.grad.numpy(), atol=1e-5, rtol=1e-5)


def test_relu_keeps_nan_and_strided_inputs(rng):
    x = np.array([np.nan, -1.0, 2.0], np.float32)
    assert np.isnan(F.relu(x)[0])
    np.testing.assert_array_equal(F.relu(x)[1:], [0.0, 2.0])
    y = ref.read_only_strided(randn(rng, (3, 17), np.float64))
    saved = y.copy()
    np.testing.assert_array_equal(F.gelu(y), F.gelu(saved))
    np.testing.assert_array_equal(F.silu_backward(y, y), F.silu_backward(saved, saved))
    np.testing.assert_array_equal(y, saved)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_extreme_inputs(arch, dtype):
    """Huge and infinite inputs: x Phi(x) tends to x and to -0 (float32's reciprocal and
    base-2 exp keep 1 + p|x| and exp(-x^2/2) finite or exactly 0; double's erf is evaluated
    on a clamped argument, xsimd's being NaN near the overflow bound); NaN stays NaN."""
    big = np.finfo(dtype).max
    x = np.array([np.inf, big, 1e30, 20.0, -20.0, -1e30, -big, np.nan], dtype)
    y = F.gelu(x)
    np.testing.assert_array_equal(y[:4], x[:4])
    assert np.all(y[4:7] == 0) and np.isnan(y[7])
    g = F.gelu_backward(np.ones_like(x), x)
    np.testing.assert_allclose(g[1:7], [1, 1, 1, 0, 0, 0], rtol=0, atol=1e-30)
    assert np.isnan(g[7])


def test_empty_and_zero_d():
    assert F.silu(np.zeros((0, 3), np.float32)).shape == (0, 3)
    assert F.gelu(np.array(2.0)).shape == ()


def test_errors(rng):
    x = randn(rng, (3,), np.float32)
    with pytest.raises(ValueError, match="approximate: expected 'none' or 'tanh', got 'erf'"):
        F.gelu(x, approximate="erf")
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64, got int32"):
        F.relu(np.ones(3, np.int32))
    with pytest.raises(TypeError, match="grad_out: dtype float64 does not match x's dtype float32"):
        F.silu_backward(np.ones(3), x)
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(3,\)"):
        F.relu_backward(np.ones(4, np.float32), x)
    with pytest.raises(TypeError, match="positional"):
        F.gelu(x, "tanh")  # keyword-only


def test_float32_gelu_is_within_1e_6_of_float64_on_a_dense_grid(arch):
    """float32 gelu uses a fast erfc (Abramowitz & Stegun 7.1.26): its error stays below 1e-6
    absolute everywhere, including the negative tail where 1 + erf would cancel."""

    x = np.linspace(-12, 12, 48001)
    want = np.array([0.5 * v * (1 + erf(v / sqrt(2))) for v in x])
    got = F.gelu(x.astype(np.float32)).astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    grad = F.gelu_backward(np.ones(x.size, np.float32), x.astype(np.float32))
    want_grad = np.array(
        [0.5 * (1 + erf(v / sqrt(2))) + v * np.exp(-v * v / 2) / sqrt(2 * np.pi) for v in x]
    )
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=2e-6)


def test_unknown_kind_at_the_binding():
    x = np.zeros(3, np.float32)
    with pytest.raises(
        ValueError, match="kind: expected one of 'relu', 'silu', 'gelu', 'gelu_tanh', got 'tanh'"
    ):
        _core.activation_forward("tanh", x, out=np.empty_like(x))
