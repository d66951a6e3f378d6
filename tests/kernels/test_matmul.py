"""attnlab.functional.matmul / matmul_backward (cpp/src/matmul.cpp, cpp/bindings/matmul.cpp on
cpp/src/kernels/gemm.hpp) against float64 NumPy on odd sizes, every arch, float32 and
float64; broadcasting, strided views read in place, empty sizes, thread counts; PyTorch when
installed; bad input."""

import sys

import numpy as np
import pytest

import attnlab as al
from attnlab import _core
from reference_blocks import gradcheck, matmul_grads, read_only_strided, tol

F = al.functional
SIZES = [1, 7, 8, 9, 15, 16, 17, 33, 65, 257]
DTYPES = [np.float32, np.float64]


def operands(rng, dtype, a_shape, b_shape):
    """a, b with a / sqrt(k), so that every product is O(1) whatever k."""
    k = a_shape[-1]
    a = (rng.standard_normal(a_shape) / np.sqrt(max(k, 1))).astype(dtype)
    return a, rng.standard_normal(b_shape).astype(dtype)


def check(a, b, scale=1.0):
    """F.matmul(a, b) against the float64 oracle: values, shape, dtype, layout."""
    got = F.matmul(a, b)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert got.shape == want.shape and got.dtype == a.dtype and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, **tol(a.dtype, scale))
    return got


def check_backward(a, b, rng, scale=1.0):
    out_shape = np.matmul(a, b).shape
    g = rng.standard_normal(out_shape).astype(a.dtype)
    da, db = F.matmul_backward(g, a, b)
    want_a, want_b = matmul_grads(g, a.astype(np.float64), b.astype(np.float64))
    for got, want in ((da, want_a), (db, want_b)):
        assert got.shape == want.shape and got.dtype == a.dtype
        np.testing.assert_allclose(got, want, **tol(a.dtype, scale))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", SIZES)
def test_each_dim_odd(arch, dtype, size):
    rng = np.random.default_rng(size)
    for m, k, n in ((size, 9, 17), (7, size, 9), (9, 17, size), (size, size, size)):
        a, b = operands(rng, dtype, (m, k), (k, n))
        check(a, b)
    a, b = operands(rng, dtype, (3, size, 15), (3, 15, size))  # batched, one tile each
    check(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_several_tiles_and_panels(arch, dtype, rng):
    """Row and column tiles, packed panels shared by the row tiles, k slices."""
    check(*operands(rng, dtype, (200, 300), (300, 290)))
    check(*operands(rng, dtype, (2, 130, 40), (2, 40, 300)))
    check(*operands(rng, dtype, (5, 30, 20), (20, 100)))  # broadcast B: stacked rows
    a, b = operands(rng, dtype, (5, 30, 20), (20, 100))
    check(a[:, ::2], b)  # broadcast B, batches not stacked: B packed once for all


BROADCASTS = [
    ((3, 1, 5, 4), (2, 4, 6)),
    ((5, 4), (2, 3, 4, 6)),
    ((2, 3, 5, 4), (4, 6)),
    ((1, 5, 4), (3, 4, 6)),
    ((2, 1, 5, 4), (1, 3, 4, 6)),
    ((4,), (4,)),
    ((4,), (2, 4, 6)),
    ((2, 5, 4), (4,)),
    ((4,), (4, 6)),
    ((5, 4), (4,)),
    ((1, 1, 5, 4), (1, 4, 6)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a_shape, b_shape", BROADCASTS)
def test_broadcasting_and_vectors(dtype, a_shape, b_shape):
    rng = np.random.default_rng(1)
    a, b = operands(rng, dtype, a_shape, b_shape)
    check(a, b)
    check_backward(a, b, rng)


def layouts(x):
    """Views with x's values and other strides: transposed twice, reversed, Fortran order,
    every other element, read-only."""
    t = np.ascontiguousarray(x.swapaxes(-1, -2)).swapaxes(-1, -2)
    wide = np.zeros(x.shape[:-2] + (2 * x.shape[-2], 2 * x.shape[-1]), x.dtype)
    wide[..., ::2, ::2] = x
    rev = np.ascontiguousarray(x[..., ::-1, ::-1])[..., ::-1, ::-1]
    return {
        "transposed": t,
        "strided": wide[..., ::2, ::2],
        "negative": rev,
        "fortran": np.asfortranarray(x),
        "read_only": read_only_strided(x),
    }


def test_layouts_bitwise_equal_to_contiguous(arch, rng):
    """Same kernel path for every layout, so the same bits; no input is written."""
    for dtype in DTYPES:
        a, b = operands(rng, dtype, (2, 19, 33), (2, 33, 70))
        want = F.matmul(a, b)
        for name, view in layouts(a).items():
            before = view.copy()
            np.testing.assert_array_equal(F.matmul(view, b), want, err_msg=name)
            np.testing.assert_array_equal(view, before, err_msg=name)
        for name, view in layouts(b).items():
            np.testing.assert_array_equal(F.matmul(a, view), want, err_msg=name)
        grads = F.matmul_backward(np.ones_like(want), a, b)
        for name, view in layouts(a).items():
            for got, expected in zip(F.matmul_backward(np.ones_like(want), view, b), grads):
                np.testing.assert_array_equal(got, expected, err_msg=name)


def test_strided_views_read_in_place(monkeypatch, rng):
    """Transposed, reversed and broadcast views reach the core as views of the caller's arrays."""
    seen = []

    def spy(a, b, c):
        seen.append((a, b))
        return _core.matmul(a, b, c)

    monkeypatch.setattr(
        sys.modules["attnlab.functional.matmul"],
        "_core",
        type("Core", (), {"matmul": staticmethod(spy)}),
    )
    x = rng.standard_normal((4, 9, 9))
    y = rng.standard_normal((9, 5))
    for a, b in (
        (x.swapaxes(-1, -2), y),
        (x[:, ::-1], y[::-1]),
        (x, np.broadcast_to(y, (4, 9, 5))),
    ):
        seen.clear()
        np.testing.assert_allclose(F.matmul(a, b), np.matmul(a, b), **tol(np.float64))
        ((got_a, got_b),) = seen
        assert np.shares_memory(got_a, x) and np.shares_memory(got_b, y)


def test_zero_strides_in_matrix_axes(rng):
    row = rng.standard_normal((1, 6))
    a = np.broadcast_to(row, (5, 6))  # every row the same, stride 0
    b = np.broadcast_to(rng.standard_normal((6, 1)), (6, 4))  # every column the same
    check(a, b)


def test_misaligned_input_copied_explicitly(rng):
    x = rng.standard_normal((5, 6)).astype(np.float32)
    raw = np.zeros(x.nbytes + 1, np.uint8)
    misaligned = np.frombuffer(raw.data, np.float32, count=x.size, offset=1).reshape(5, 6)
    misaligned.flags.writeable = True
    misaligned[...] = x
    assert not misaligned.flags.aligned
    np.testing.assert_array_equal(F.matmul(misaligned, x.T), F.matmul(x, x.T))


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((0, 5), (5, 3)),
        ((4, 0), (0, 3)),
        ((4, 5), (5, 0)),
        ((0, 4, 5), (5, 3)),
        ((2, 0, 5), (5, 3)),
        ((0,), (0,)),
        ((0,), (0, 3)),
        ((3, 0), (0,)),
        ((2, 1, 4, 0), (3, 0, 2)),
    ],
)
def test_empty(arch, a_shape, b_shape):
    a = np.ones(a_shape, np.float32)
    b = np.ones(b_shape, np.float32)
    got = F.matmul(a, b)
    want = np.matmul(a, b)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # zeros where k = 0
    da, db = F.matmul_backward(np.ones(want.shape, np.float32), a, b)
    want_a, want_b = matmul_grads(np.ones(want.shape), a, b)
    assert da.shape == a.shape and db.shape == b.shape
    np.testing.assert_array_equal(da, want_a)
    np.testing.assert_array_equal(db, want_b)


def test_thread_count_bitwise(arch, rng, restore_threads):
    cases = [
        ((37, 32, 16), (37, 16, 32)),
        ((301, 129), (129, 270)),
        ((5, 40, 33), (33, 70)),
        ((3, 1, 64, 24), (4, 24, 40)),
    ]
    results = []
    for threads in (1, 2, 3):
        al.set_num_threads(threads)
        run = []
        for a_shape, b_shape in cases:
            a, b = operands(np.random.default_rng(7), np.float32, a_shape, b_shape)
            out = F.matmul(a, b)
            run += [out, *F.matmul_backward(np.cos(out), a, b)]
        results.append(run)
    for other in results[1:]:
        for x, y in zip(results[0], other):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_odd_and_batched(arch, dtype, rng):
    for a_shape, b_shape in [
        ((17, 33), (33, 9)),
        ((3, 65, 7), (3, 7, 16)),
        ((4, 9, 17), (17, 8)),
        ((9, 17), (2, 17, 33)),
    ]:
        a, b = operands(rng, dtype, a_shape, b_shape)
        check_backward(a, b, rng, scale=4.0)  # da, db sum over the batch too


def test_backward_needs_flags(rng):
    a, b = operands(rng, np.float64, (3, 4), (4, 5))
    g = np.ones((3, 5))
    da, db = F.matmul_backward(g, a, b, needs_b=False)
    assert db is None
    np.testing.assert_allclose(da, g @ b.T, **tol(np.float64))
    da, db = F.matmul_backward(g, a, b, needs_a=False)
    assert da is None
    np.testing.assert_allclose(db, a.T @ g, **tol(np.float64))


def test_backward_gradcheck(rng):
    a = rng.standard_normal((2, 1, 3, 4))
    b = rng.standard_normal((3, 4, 2))
    g = rng.standard_normal((2, 3, 3, 2))
    gradcheck(F.matmul, (a, b), F.matmul_backward(g, a, b), g)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((33, 65), (65, 31)),
        ((2, 1, 17, 9), (3, 9, 16)),
        ((9,), (4, 9, 7)),
        ((64, 4, 32, 16), (64, 4, 16, 32)),
    ],
)
def test_matches_torch(torch, dtype, a_shape, b_shape):
    rng = np.random.default_rng(5)
    a, b = operands(rng, dtype, a_shape, b_shape)
    ta, tb = (torch.from_numpy(x).requires_grad_() for x in (a, b))
    out = torch.matmul(ta, tb)
    g = rng.standard_normal(tuple(out.shape)).astype(dtype)
    out.backward(torch.from_numpy(g))
    np.testing.assert_allclose(F.matmul(a, b), out.detach().numpy(), **tol(dtype))
    for got, want in zip(F.matmul_backward(g, a, b), (ta.grad, tb.grad)):
        np.testing.assert_allclose(got, want.numpy(), **tol(dtype, 4.0))


def test_errors():
    a = np.ones((2, 3), np.float32)
    b = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="a: expected dtype float32 or float64, got int32"):
        F.matmul(a.astype(np.int32), b)
    with pytest.raises(TypeError, match="b: dtype float64 does not match a's dtype float32"):
        F.matmul(a, b.astype(np.float64))
    with pytest.raises(TypeError, match="a: expected a NumPy array"):
        F.matmul([[1.0, 2.0, 3.0]], b)
    with pytest.raises(ValueError, match="a: expected at least 1 dimension, got a 0-d array"):
        F.matmul(np.ones((), np.float32), b)
    with pytest.raises(ValueError, match="b: expected at least 1 dimension"):
        F.matmul(a, np.ones((), np.float32))
    with pytest.raises(
        ValueError, match=r"b: axis -2 \(k\) has size 2, expected 3 to match a's last"
    ):
        F.matmul(a, np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"b: axis 0 \(k\) has size 2, expected 3"):
        F.matmul(a, np.ones(2, np.float32))
    with pytest.raises(
        ValueError, match="b: batch axis 0 has size 3, expected 2 or 1 to broadcast with a's axis 0"
    ):
        F.matmul(np.ones((2, 2, 3), np.float32), np.ones((3, 3, 4), np.float32))
    with pytest.raises(
        ValueError, match=r"grad_out: expected the output's shape \(2, 4\), got \(4, 2\)"
    ):
        F.matmul_backward(np.ones((4, 2), np.float32), a, b)
    with pytest.raises(TypeError, match="grad_out: dtype float64 does not match a's"):
        F.matmul_backward(np.ones((2, 4)), a, b)


def test_core_guards():
    """The binding checks the C++ boundary itself, whatever the Python layer passed."""
    a = np.ones((2, 3), np.float32)
    b = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="a: expected dtype float32 or float64, got float16"):
        _core.matmul(a.astype(np.float16), b, np.empty((2, 4), np.float16))
    with pytest.raises(TypeError, match="c: dtype float64 does not match a's dtype float32"):
        _core.matmul(a, b, np.empty((2, 4)))
    with pytest.raises(ValueError, match=r"c: expected shape \(2, 4\), got \(4, 2\)"):
        _core.matmul(a, b, np.empty((4, 2), np.float32))
    with pytest.raises(ValueError, match="c: output must be C-contiguous"):
        _core.matmul(a, b, np.empty((4, 2), np.float32).T)
    read_only = np.empty((2, 4), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="c: output array is read-only"):
        _core.matmul(a, b, read_only)
    square = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="c: output overlaps a"):
        _core.matmul(square, square.copy(), square)
    with pytest.raises(ValueError, match=r"b: axis 0 \(k\) has size 2, expected 3"):
        _core.matmul(a, np.ones((2, 4), np.float32), np.empty((2, 4), np.float32))
    with pytest.raises(ValueError, match="a: expected at least 2 dimensions"):
        _core.matmul(np.ones(3, np.float32), b, np.empty((4,), np.float32))
    with pytest.raises(ValueError, match="b: batch axis 0 has size 3, expected 2 or 1"):
        _core.matmul(
            np.ones((2, 2, 3), np.float32),
            np.ones((3, 3, 4), np.float32),
            np.empty((2, 2, 4), np.float32),
        )
    odd = np.ndarray((2, 3), np.float32, buffer=np.zeros(32, np.uint8), strides=(13, 4))
    with pytest.raises(
        ValueError, match="a: axis 0 has stride 13 bytes, not a multiple of the item size 4"
    ):
        _core.matmul(odd, b, np.empty((2, 4), np.float32))
