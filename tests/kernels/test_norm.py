"""layer_norm and rms_norm (cpp/src/kernels/norm.hpp) against the float64 oracle, PyTorch and
finite differences, on every arch."""

import numpy as np
import pytest

import attnlab as al
import reference_blocks as ref
from reference_blocks import (
    DTYPE_IDS,
    DTYPES,
    RELIABILITY_SIZES,
    SIZES,
    assert_grads_close,
    gradcheck,
    oracle_and_naive,
    randn,
    row_counts,
    tol,
)

F = al.functional


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n", SIZES)
def test_layer_norm_matches_oracle(arch, rng, dtype, n):
    x = randn(rng, (3, n), dtype) * 3 + 1
    w, b = randn(rng, (n,), dtype), randn(rng, (n,), dtype)
    np.testing.assert_allclose(
        F.layer_norm(x, n, w, b), ref.layer_norm(x, 1, w, b), **tol(dtype, 2)
    )
    np.testing.assert_allclose(F.layer_norm(x, (n,)), ref.layer_norm(x, 1), **tol(dtype, 2))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n", SIZES)
def test_rms_norm_matches_oracle(arch, rng, dtype, n):
    x = randn(rng, (3, n), dtype)
    w = randn(rng, (n,), dtype)
    np.testing.assert_allclose(
        F.rms_norm(x, n, w, eps=1e-6), ref.rms_norm(x, 1, w, 1e-6), **tol(dtype, 2)
    )
    np.testing.assert_allclose(
        F.rms_norm(x, n), ref.rms_norm(x, 1, None, np.finfo(dtype).eps), **tol(dtype, 2)
    )


def fma_floor(g, x, w, eps):
    """Two ulps of dx's largest term rstd * g * w, in x's dtype.

    dx = rstd * (g*w - mean(g*w) - ...): with FMA (avx2) the kernel rounds g*w inside
    mean(g*w) but not in g*w - mean(g*w), an error of the terms' size that the naive order
    does not make. It shows where dx cancels to 0: rows of length 1, where rstd = 1/sqrt(eps).
    """
    if x.size == 0:
        return 0.0
    x64 = x.astype(np.float64)
    rstd = 1 / np.sqrt(x64.var(axis=-1, keepdims=True) + eps)
    return 2 * float(np.finfo(x.dtype).eps * np.max(np.abs(rstd * g * w)))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n", RELIABILITY_SIZES)
def test_layer_norm_backward_matches_oracle(arch, rng, dtype, n):
    """dx, dweight, dbias (and dx alone without weight and bias) against the float64 formulas,
    to assert_backward_close's tolerance (float32: twice the naive float32 error, at least
    fma_floor)."""
    for rows in row_counts(n):
        x = randn(rng, (rows, n), dtype) * 3 + 1
        w, b, g = randn(rng, (n,), dtype), randn(rng, (n,), dtype), randn(rng, (rows, n), dtype)
        want, naive = oracle_and_naive(ref.layer_norm_backward, g, x, 1, w)
        assert_grads_close(
            F.layer_norm_backward(g, x, n, w, b),
            want,
            naive,
            dtype,
            ("dx", "dweight", "dbias"),
            fma_floor(g, x, w, 1e-5),
        )
        (want, _, _), (naive, _, _) = oracle_and_naive(ref.layer_norm_backward, g, x, 1)
        assert_grads_close(
            F.layer_norm_backward(g, x, n),
            (want, None, None),
            (naive, None, None),
            dtype,
            ("dx", "dweight", "dbias"),
            fma_floor(g, x, 1, 1e-5),
        )


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("n", RELIABILITY_SIZES)
def test_rms_norm_backward_matches_oracle(arch, rng, dtype, n):
    """dx and dweight (and dx alone without weight, at the default eps: the dtype's machine
    epsilon) against the float64 formulas, to assert_backward_close's tolerance."""
    for rows in row_counts(n):
        x, w, g = (
            randn(rng, (rows, n), dtype),
            randn(rng, (n,), dtype),
            randn(rng, (rows, n), dtype),
        )
        want, naive = oracle_and_naive(ref.rms_norm_backward, g, x, 1, w, 1e-6)
        assert_grads_close(
            F.rms_norm_backward(g, x, n, w, eps=1e-6), want, naive, dtype, ("dx", "dweight")
        )
        eps = np.finfo(dtype).eps
        want, naive = oracle_and_naive(ref.rms_norm_backward, g, x, 1, None, eps)
        assert_grads_close(F.rms_norm_backward(g, x, n), want, naive, dtype, ("dx", "dweight"))


def test_multi_axis_normalized_shape(rng):
    x = randn(rng, (2, 3, 4, 5), np.float64)
    w, b = randn(rng, (4, 5), np.float64), randn(rng, (4, 5), np.float64)
    np.testing.assert_allclose(
        F.layer_norm(x, (4, 5), w, b), ref.layer_norm(x, 2, w, b), **tol(np.float64)
    )
    dx, dw, db = F.layer_norm_backward(np.ones_like(x), x, (4, 5), w, b)
    assert dx.shape == x.shape and dw.shape == (4, 5) and db.shape == (4, 5)


@pytest.mark.parametrize("n", [1, 7, 17])
def test_layer_norm_gradcheck(arch, rng, n):
    x, w, b = (
        randn(rng, (3, n), np.float64),
        randn(rng, (n,), np.float64),
        randn(rng, (n,), np.float64),
    )
    g = randn(rng, (3, n), np.float64)
    grads = F.layer_norm_backward(g, x, n, w, b, eps=1e-5)
    gradcheck(lambda x, w, b: F.layer_norm(x, n, w, b), [x, w, b], grads, g)
    dx, dw, db = F.layer_norm_backward(g, x, n)
    assert dw is None and db is None
    gradcheck(lambda x: F.layer_norm(x, n), [x], [dx], g)


@pytest.mark.parametrize("n", [1, 7, 17])
def test_rms_norm_gradcheck(arch, rng, n):
    x, w = randn(rng, (3, n), np.float64), randn(rng, (n,), np.float64)
    g = randn(rng, (3, n), np.float64)
    grads = F.rms_norm_backward(g, x, n, w, eps=1e-5)
    gradcheck(lambda x, w: F.rms_norm(x, n, w, eps=1e-5), [x, w], grads, g)


@pytest.mark.torch
@pytest.mark.parametrize("n", [7, 64, 1025])
def test_norms_match_torch(rng, torch, n):
    tf = torch.nn.functional
    x, w, b, g = (randn(rng, s, np.float32) for s in [(5, n), (n,), (n,), (5, n)])
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = tf.layer_norm(tx, (n,), tw, tb, 1e-5)
    y.backward(torch.tensor(g))
    np.testing.assert_allclose(F.layer_norm(x, n, w, b), y.detach().numpy(), atol=2e-5, rtol=1e-5)
    for ours, theirs in zip(F.layer_norm_backward(g, x, n, w, b), (tx, tw, tb)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), atol=1e-4, rtol=1e-4)

    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
    y = tf.rms_norm(tx, (n,), tw, None)
    y.backward(torch.tensor(g))
    np.testing.assert_allclose(F.rms_norm(x, n, w), y.detach().numpy(), atol=2e-5, rtol=1e-5)
    for ours, theirs in zip(F.rms_norm_backward(g, x, n, w), (tx, tw)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), atol=1e-4, rtol=1e-4)


def test_item_27_large_mean_is_two_pass(arch, rng):
    # A one-pass E[x^2] - E[x]^2 loses the unit variance under a 1e4 offset in float32.
    x = (1e4 + rng.standard_normal((4, 1023))).astype(np.float32)
    np.testing.assert_allclose(F.layer_norm(x, 1023), ref.layer_norm(x, 1), atol=2e-3)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_item_27_constant_row_gives_bias_and_finite_grads(arch, rng, dtype):
    n = 1025
    x = np.full((2, n), 0.1, dtype=dtype)
    w, b = randn(rng, (n,), dtype), randn(rng, (n,), dtype)
    np.testing.assert_allclose(F.layer_norm(x, n, w, b), np.broadcast_to(b, x.shape), atol=1e-3)
    grads = F.layer_norm_backward(randn(rng, x.shape, dtype), x, n, w, b)
    assert all(np.isfinite(gr).all() for gr in grads)


@pytest.mark.parametrize("eps", [0.0, -1e-5, -np.inf, np.nan])
def test_item_27_eps_must_be_positive(rng, eps):
    x = randn(rng, (2, 5), np.float32)
    calls = [
        lambda: F.layer_norm(x, 5, eps=eps),
        lambda: F.layer_norm_backward(x, x, 5, eps=eps),
        lambda: F.rms_norm(x, 5, eps=eps),
        lambda: F.rms_norm_backward(x, x, 5, eps=eps),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="eps: expected a"):
            call()


def test_item_26_results_do_not_depend_on_thread_count(rng):
    x, g = randn(rng, (5000, 9), np.float32), randn(rng, (5000, 9), np.float32)
    w, b = randn(rng, (9,), np.float32), randn(rng, (9,), np.float32)
    before = al.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            al.set_num_threads(threads)
            results.append(F.layer_norm_backward(g, x, 9, w, b) + F.rms_norm_backward(g, x, 9, w))
    finally:
        al.set_num_threads(before)
    for a, c in zip(*results):
        np.testing.assert_array_equal(a, c)


def test_strided_read_only_inputs(rng):
    x = ref.read_only_strided(randn(rng, (4, 9), np.float64))
    w, b = randn(rng, (9,), np.float64), randn(rng, (9,), np.float64)
    saved = x.copy()
    np.testing.assert_array_equal(F.layer_norm(x, 9, w, b), F.layer_norm(saved, 9, w, b))
    np.testing.assert_array_equal(
        F.rms_norm_backward(x, x, 9, w)[0], F.rms_norm_backward(saved, saved, 9, w)[0]
    )
    np.testing.assert_array_equal(x, saved)
    flipped = saved[::-1, ::-1]  # negative strides
    np.testing.assert_array_equal(
        F.layer_norm_backward(flipped, flipped, 9, w, b)[1],
        F.layer_norm_backward(flipped.copy(), flipped.copy(), 9, w, b)[1],
    )


def test_empty_sizes(rng):
    x = np.zeros((0, 7), np.float32)
    w = np.ones(7, np.float32)
    assert F.layer_norm(x, 7, w, w).shape == (0, 7)
    dx, dw, db = F.layer_norm_backward(x, x, 7, w, w)
    assert dx.shape == (0, 7)
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)
    assert F.rms_norm(np.zeros((3, 0), np.float64), 0).shape == (3, 0)


def test_errors(rng):
    x = randn(rng, (2, 5), np.float32)
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64, got int64"):
        F.layer_norm(np.ones((2, 5), np.int64), 5)
    with pytest.raises(TypeError, match="weight: dtype float64 does not match x's dtype float32"):
        F.layer_norm(x, 5, np.ones(5))
    with pytest.raises(
        ValueError, match=r"weight: expected shape \(5,\) \(normalized_shape\), got \(4,\)"
    ):
        F.layer_norm(x, 5, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"x: expected trailing axes of shape \(4,\)"):
        F.layer_norm(x, 4)
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(2, 5\)"):
        F.layer_norm_backward(x[:1], x, 5)
    with pytest.raises(TypeError, match="x: expected a NumPy array"):
        F.rms_norm([[1.0, 2.0]], 2)


def test_concurrent_calls_equal_serial(rng):
    # The GIL is released around the kernels: calls from many Python threads run at once.
    from concurrent.futures import ThreadPoolExecutor

    xs = [randn(rng, (300, 65), np.float32) for _ in range(8)]
    w = randn(rng, (65,), np.float32)
    serial = [F.layer_norm_backward(x, x, 65, w, w) for x in xs]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda x: F.layer_norm_backward(x, x, 65, w, w), xs))
    for a, c in zip(serial, parallel):
        for u, v in zip(a, c):
            np.testing.assert_array_equal(u, v)
