"""cross_entropy (cpp/src/kernels/loss.hpp) against the float64 oracle, PyTorch and finite
differences, on every arch."""

import numpy as np
import pytest

import attnlab as al
import reference_blocks as ref
from reference_blocks import (
    DTYPE_IDS,
    DTYPES,
    RELIABILITY_SIZES,
    assert_backward_close,
    gradcheck,
    oracle_and_naive,
    randn,
    row_counts,
    tol,
)

F = al.functional
REDUCTIONS = ["mean", "sum", "none"]


def make(rng, shape, dtype, ignore_index=-100, ignore_some=True):
    """logits of `shape` (class axis 1, or 0 when 1-D) and targets with some ignored."""
    logits = randn(rng, shape, dtype) * 3
    axis = 0 if len(shape) == 1 else 1
    tshape = shape[:axis] + shape[axis + 1 :]
    target = np.asarray(rng.integers(0, shape[axis], size=tshape))
    if ignore_some and target.size > 1:
        target.reshape(-1)[::3] = ignore_index
    return logits, target


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("classes", [1, 7, 9, 17, 1025])
def test_matches_oracle(arch, rng, reduction, smoothing, dtype, classes):
    logits, target = make(rng, (6, classes), dtype)
    opts = dict(label_smoothing=smoothing, reduction=reduction)
    out = F.cross_entropy(logits, target, **opts)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref.cross_entropy(logits, target, **opts), **tol(dtype, 2))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("classes", [n for n in RELIABILITY_SIZES if n])  # 0: test_zero_classes
def test_backward_matches_oracle(arch, rng, reduction, smoothing, dtype, classes):
    """dlogits against the float64 formula for a few row counts, with every third target
    ignored (ignore_index=-100, and 0, a real class), to assert_backward_close's tolerance
    (float32: twice the naive float32 error)."""
    for rows in row_counts(classes):
        for ignore_index in (-100, 0):
            logits, target = make(rng, (rows, classes), dtype, ignore_index)
            opts = dict(ignore_index=ignore_index, label_smoothing=smoothing, reduction=reduction)
            g = randn(rng, (rows,), dtype) if reduction == "none" else np.array(1.3, dtype)
            want, naive = oracle_and_naive(ref.cross_entropy_backward, g, logits, target, **opts)
            got = F.cross_entropy_backward(g, logits, target, **opts)
            assert_backward_close(got, want, naive, dtype, f"{rows} rows, {opts}")


@pytest.mark.parametrize("shape", [(7,), (3, 5, 4), (2, 9, 3, 2)])
def test_layouts(rng, shape):
    logits, target = make(rng, shape, np.float64, ignore_some=False)
    for reduction in REDUCTIONS:
        np.testing.assert_allclose(
            F.cross_entropy(logits, target, reduction=reduction),
            ref.cross_entropy(logits, target, reduction=reduction),
            **tol(np.float64),
        )
    dl = F.cross_entropy_backward(1.0, logits, target)
    assert dl.shape == logits.shape


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_gradcheck(arch, rng, reduction, smoothing):
    logits, target = make(rng, (4, 7), np.float64, ignore_index=3)
    opts = dict(ignore_index=3, label_smoothing=smoothing, reduction=reduction)
    g = randn(rng, target.shape, np.float64) if reduction == "none" else np.array(0.7)
    grad = F.cross_entropy_backward(g, logits, target, **opts)
    gradcheck(lambda x: F.cross_entropy(x, target, **opts), [logits], [grad], g)
    np.testing.assert_array_equal(grad[target == 3], 0)


@pytest.mark.torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("shape", [(33, 1025), (4, 7, 5)])
def test_matches_torch(rng, torch, reduction, smoothing, shape):
    logits, target = make(rng, shape, np.float32, ignore_index=-100)
    tl = torch.tensor(logits, requires_grad=True)
    y = torch.nn.functional.cross_entropy(
        tl, torch.tensor(target), ignore_index=-100, label_smoothing=smoothing, reduction=reduction
    )
    g = randn(rng, target.shape, np.float32) if reduction == "none" else np.array(1.3, np.float32)
    y.backward(torch.tensor(g))
    opts = dict(label_smoothing=smoothing, reduction=reduction)
    np.testing.assert_allclose(
        F.cross_entropy(logits, target, **opts), y.detach().numpy(), atol=1e-5, rtol=1e-5
    )
    np.testing.assert_allclose(
        F.cross_entropy_backward(g, logits, target, **opts), tl.grad.numpy(), atol=1e-6, rtol=1e-5
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_large_logits(arch, rng, dtype):
    logits, target = make(rng, (5, 17), dtype, ignore_some=False)
    big = (logits * 1e6).astype(dtype)
    loss = F.cross_entropy(big, target, reduction="none", label_smoothing=0.1)
    assert np.isfinite(loss).all()
    np.testing.assert_allclose(
        loss, ref.cross_entropy(big, target, reduction="none", label_smoothing=0.1), rtol=1e-6
    )
    assert np.isfinite(F.cross_entropy_backward(1.0, big, target)).all()
    shifted = F.cross_entropy(logits + dtype(1e4), target, reduction="none")
    np.testing.assert_allclose(
        shifted,
        F.cross_entropy(logits, target, reduction="none"),
        atol=2e-3 if dtype == np.float32 else 1e-9,
    )


def test_zero_classes(rng):
    """Rows need a class (ValueError naming logits, not NumPy's reshape error); no rows and no
    classes is an empty input."""
    for shape in [(3, 0), (0,), (2, 0, 4)]:
        logits = np.zeros(shape, np.float32)
        axis = 0 if len(shape) == 1 else 1
        target = np.full(shape[:axis] + shape[axis + 1 :], -100)
        with pytest.raises(ValueError, match=r"logits: expected at least 1 class along axis"):
            F.cross_entropy(logits, target)
        with pytest.raises(ValueError, match=r"logits: expected at least 1 class along axis"):
            F.cross_entropy_backward(1.0, logits, target)
    empty = np.zeros((0, 0), np.float64)
    assert F.cross_entropy(empty, np.zeros(0, np.int64), reduction="none").shape == (0,)
    assert F.cross_entropy_backward(1.0, empty, np.zeros(0, np.int64)).shape == (0, 0)


def test_all_ignored_mean_is_nan_like_torch(rng):
    logits = randn(rng, (3, 4), np.float64)
    target = np.full(3, -100)
    assert np.isnan(F.cross_entropy(logits, target))
    assert F.cross_entropy(logits, target, reduction="sum") == 0
    np.testing.assert_array_equal(F.cross_entropy_backward(1.0, logits, target), 0)


def test_strided_read_only_and_empty(rng):
    logits = ref.read_only_strided(randn(rng, (6, 5), np.float32))
    target = np.array([0, 4, 2, 1, 3, 3], dtype=np.int32)[::-1]
    saved = logits.copy()
    assert F.cross_entropy(logits, target) == F.cross_entropy(saved, target.copy())
    np.testing.assert_array_equal(logits, saved)
    empty = F.cross_entropy(np.zeros((0, 5), np.float32), np.zeros(0, np.int64), reduction="none")
    assert empty.shape == (0,)
    assert F.cross_entropy_backward(
        1.0, np.zeros((0, 5), np.float32), np.zeros(0, np.int64)
    ).shape == (0, 5)


def test_errors(rng):
    logits = randn(rng, (3, 4), np.float32)
    target = np.array([0, 1, 2])
    with pytest.raises(
        ValueError, match=r"target: value 4 at flat position 1 is out of range \[0, 4\)"
    ):
        F.cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="target: value -1"):
        F.cross_entropy(logits, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match="target: expected an integer dtype, got float64"):
        F.cross_entropy(logits, target.astype(np.float64))
    with pytest.raises(TypeError, match="target: expected an integer dtype, got bool"):
        F.cross_entropy(logits, np.ones(3, bool))
    with pytest.raises(
        ValueError,
        match=r"target: expected shape \(3,\) \(logits' shape without the class axis\), got \(4,\)",
    ):
        F.cross_entropy(logits, np.zeros(4, np.int64))
    with pytest.raises(
        ValueError, match="label_smoothing: expected 0 <= label_smoothing <= 1, got 1.5"
    ):
        F.cross_entropy(logits, target, label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction: expected one of"):
        F.cross_entropy(logits, target, reduction="avg")
    with pytest.raises(TypeError, match="logits: expected dtype float32 or float64"):
        F.cross_entropy(logits.astype(np.int64), target)
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(3,\)"):
        F.cross_entropy_backward(np.ones(2, np.float32), logits, target, reduction="none")
    with pytest.raises(TypeError, match="grad_out: dtype float64 does not match logits"):
        F.cross_entropy_backward(np.array(1.0), logits, target)
