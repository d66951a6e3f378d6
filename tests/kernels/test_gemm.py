"""attnlab.functional.linear / linear_backward (cpp/src/kernels/gemm.hpp) against NumPy in
float64 on odd shapes, every arch, float32 and float64; PyTorch when installed; bad input."""

import numpy as np
import pytest

import attnlab as al

F = al.functional
TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-11, atol=1e-11)}
SIZES = [1, 7, 9, 17, 1023, 1025]


def data(rng, dtype, n, i, o, lead=()):
    x = rng.standard_normal(lead + (n, i)).astype(dtype)
    w = (rng.standard_normal((o, i)) / np.sqrt(i)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    return x, w, b


def check(x, w, b):
    dtype = x.dtype.type
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    y = F.linear(x, w, b)
    assert y.dtype == x.dtype and y.shape == x.shape[:-1] + (w.shape[0],)
    tol = TOL[dtype]
    np.testing.assert_allclose(y, x64 @ w64.T + b64, **tol)
    np.testing.assert_allclose(F.linear(x, w), x64 @ w64.T, **tol)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx, dw, db = F.linear_backward(g, x, w, b)
    g64 = g.astype(np.float64).reshape(-1, w.shape[0])
    scale = np.sqrt(max(1, g64.shape[0]))  # dw and db sum over N rows
    np.testing.assert_allclose(dx, (g64 @ w64).reshape(x.shape), **tol)
    np.testing.assert_allclose(
        dw, g64.T @ x64.reshape(-1, w.shape[1]), rtol=tol["rtol"] * scale, atol=tol["atol"] * scale
    )
    np.testing.assert_allclose(db, g64.sum(0), rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)
    assert len(F.linear_backward(g, x, w)) == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", SIZES)
def test_each_dim_odd(arch, dtype, size):
    rng = np.random.default_rng(size)
    check(*data(rng, dtype, size, 9, 17))
    check(*data(rng, dtype, 7, size, 9))
    check(*data(rng, dtype, 9, 17, size))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_blocked(arch, dtype):
    """Several row and column tiles and k slices; outputs in whole 16-column groups (written
    in place, the sums starting from the bias) and not (through scratch, the bias padded)."""
    check(*data(np.random.default_rng(3), dtype, 200, 300, 290))
    check(*data(np.random.default_rng(4), dtype, 200, 300, 288))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("features", [(16, 5), (64, 64), (48, 100), (80, 64), (256, 37)])
def test_weight_gradient_of_many_rows(arch, dtype, features):
    """A small C over a long k (dw of out x in over 1500 rows) in thin row tiles; inputs in
    whole 16-column groups read in place instead of packed: of at most 64 features, or of more
    (80, 256) when dw has at most 96 rows."""
    check(*data(np.random.default_rng(features[0]), dtype, 1500, *features))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 2, 15, 16, 17, 63, 64])
def test_few_rows_equal_the_same_rows_of_a_tall_product(arch, dtype, rows):
    """Up to 64 rows go as y^T = w x^T (w read in place, not packed): bitwise the rows of a
    taller product, whose packed path starts from the same bias and sums in the same order.
    300 inputs: two k slices; 290 outputs: several tasks and a padded column tail."""
    x, w, b = data(np.random.default_rng(rows), dtype, 65, 300, 290)
    for bias in (b, None):
        np.testing.assert_array_equal(F.linear(x[:rows], w, bias), F.linear(x, w, bias)[:rows])
    check(x[:rows], w, b)


def test_leading_dims_and_layouts(arch, rng):
    x, w, b = data(rng, np.float32, 5, 12, 10, lead=(2, 3))
    check(x, w, b)
    xf = np.asfortranarray(x[0])
    np.testing.assert_array_equal(F.linear(xf, w, b), F.linear(np.ascontiguousarray(xf), w, b))
    xs = x[:, :, ::-1]  # negative strides
    np.testing.assert_array_equal(F.linear(xs, w), F.linear(np.ascontiguousarray(xs), w))
    x1 = rng.standard_normal(12).astype(np.float32)  # 1-D input
    np.testing.assert_allclose(F.linear(x1, w, b), w @ x1 + b, rtol=1e-5, atol=1e-5)


def test_empty(arch):
    w = np.ones((4, 3), np.float32)
    assert F.linear(np.ones((0, 3), np.float32), w).shape == (0, 4)
    for out in (4, 16):  # the bias alone, through scratch and in place
        bias = np.arange(out, dtype=np.float32)
        y = F.linear(np.ones((2, 0), np.float32), np.ones((out, 0), np.float32), bias)
        np.testing.assert_array_equal(y, np.broadcast_to(bias, (2, out)))
    dx, dw = F.linear_backward(np.ones((0, 4), np.float32), np.ones((0, 3), np.float32), w)
    assert dx.shape == (0, 3) and np.all(dw == 0)


@pytest.mark.parametrize("shape", [(301, 129, 270), (1500, 64, 100)])
def test_item_26_thread_count_bitwise(arch, rng, shape):
    x, w, b = data(rng, np.float32, *shape)
    g = rng.standard_normal((shape[0], shape[2])).astype(np.float32)
    saved = al.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            al.set_num_threads(n)
            results.append((F.linear(x, w, b),) + F.linear_backward(g, x, w, b))
    finally:
        al.set_num_threads(saved)
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)


def test_inputs_not_written(rng):
    x, w, b = data(rng, np.float64, 6, 5, 4)
    for a in (x, w, b):
        a.setflags(write=False)
    copies = [a.copy() for a in (x, w, b)]
    F.linear(x, w, b)
    F.linear_backward(np.ones((6, 4)), x, w, b)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch(rng, torch, dtype):
    x, w, b = data(rng, dtype, 33, 65, 31, lead=(2,))
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    ty = torch.nn.functional.linear(tx, tw, tb)
    g = rng.standard_normal(ty.shape).astype(dtype)
    ty.backward(torch.from_numpy(g))
    tol = TOL[dtype]
    np.testing.assert_allclose(F.linear(x, w, b), ty.detach().numpy(), **tol)
    for got, want in zip(F.linear_backward(g, x, w, b), (tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(got, want.numpy(), **tol)


def test_errors():
    x = np.ones((2, 3), np.float32)
    w = np.ones((4, 3), np.float32)
    with pytest.raises(TypeError, match="x"):
        F.linear(x.astype(np.int32), w)
    with pytest.raises(TypeError, match="weight"):
        F.linear(x, w.astype(np.float64))
    with pytest.raises(TypeError, match="bias"):
        F.linear(x, w, np.ones(4, np.float16))
    with pytest.raises(TypeError, match="x"):
        F.linear([[1.0, 2.0, 3.0]], w)
    with pytest.raises(ValueError, match=r"x: axis -1 \(in.*size 2, expected 3"):
        F.linear(np.ones((2, 2), np.float32), w)
    with pytest.raises(ValueError, match="weight: expected 2 to 2 dimensions"):
        F.linear(x, np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"bias: axis 0 \(out.*size 5, expected 4"):
        F.linear(x, w, np.ones(5, np.float32))
    with pytest.raises(ValueError, match="x: expected at least 1 dimension"):
        F.linear(np.ones((), np.float32), w)
    with pytest.raises(ValueError, match="grad_out: expected the output's shape"):
        F.linear_backward(np.ones((2, 5), np.float32), x, w)
    with pytest.raises(TypeError, match="grad_out"):
        F.linear_backward(np.ones((2, 4), np.float64), x, w)
