"""embedding and the T5 relative-position bias gather (cpp/src/kernels/embedding.hpp):
gathers, and scatter-add backwards that are deterministic with repeated indices."""

import numpy as np
import pytest

import attnlab as al
from reference_blocks import DTYPE_IDS, DTYPES, SIZES, gradcheck, randn

F = al.functional


def scatter_add(grad, indices, vocab, padding_idx=None):
    """Oracle: np.add.at adds the rows one position at a time, in order."""
    out = np.zeros((vocab, grad.shape[-1]), dtype=grad.dtype)
    np.add.at(out, indices.reshape(-1), grad.reshape(-1, grad.shape[-1]))
    if padding_idx is not None:
        out[padding_idx] = 0
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("dim", SIZES)
def test_gather_and_scatter_add(arch, rng, dtype, dim):
    weight = randn(rng, (11, dim), dtype)
    idx = rng.integers(0, 11, size=(3, 13))  # repeats, and some rows never used
    np.testing.assert_array_equal(F.embedding(idx, weight), weight[idx])
    g = randn(rng, (3, 13, dim), dtype)
    # Same order of additions as the oracle, so equal to the last bit.
    np.testing.assert_array_equal(F.embedding_backward(g, idx, weight), scatter_add(g, idx, 11))


def test_padding_idx(rng):
    weight = randn(rng, (6, 5), np.float64)
    idx = np.array([[0, 2, 5, 2], [5, 5, 1, 0]])
    g = randn(rng, (2, 4, 5), np.float64)
    for pad in (5, -1):
        np.testing.assert_array_equal(F.embedding(idx, weight, padding_idx=pad), weight[idx])
        np.testing.assert_array_equal(
            F.embedding_backward(g, idx, weight, padding_idx=pad),
            scatter_add(g, idx, 6, padding_idx=5),
        )


def test_gradcheck(arch, rng):
    weight = randn(rng, (4, 3), np.float64)
    idx = np.array([1, 3, 1, 1, 0])
    g = randn(rng, (5, 3), np.float64)
    gradcheck(lambda w: F.embedding(idx, w), [weight], [F.embedding_backward(g, idx, weight)], g)


@pytest.mark.torch
def test_matches_torch(rng, torch):
    weight = randn(rng, (50, 17), np.float32)
    idx = rng.integers(0, 50, size=(4, 33))
    g = randn(rng, (4, 33, 17), np.float32)
    tw = torch.tensor(weight, requires_grad=True)
    y = torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx=3)
    y.backward(torch.tensor(g))
    np.testing.assert_array_equal(F.embedding(idx, weight, padding_idx=3), y.detach().numpy())
    np.testing.assert_allclose(
        F.embedding_backward(g, idx, weight, padding_idx=3), tw.grad.numpy(), atol=1e-5, rtol=1e-6
    )


def test_item_26_repeated_indices_do_not_depend_on_thread_count(rng):
    weight = randn(rng, (3, 9), np.float32)
    idx = rng.integers(0, 3, size=20000)
    g = randn(rng, (20000, 9), np.float32)
    before = al.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            al.set_num_threads(threads)
            results.append(F.embedding_backward(g, idx, weight))
    finally:
        al.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])


def test_relative_position_bias(arch, rng):
    table = randn(rng, (8, 3), np.float64)  # (num_buckets, H)
    buckets = F.relative_position_bucket(5, 7, num_buckets=8, max_distance=16)
    bias = F.relative_position_bias(table, buckets)
    assert bias.shape == (3, 5, 7)
    np.testing.assert_array_equal(bias, np.moveaxis(table[buckets], -1, 0))
    g = randn(rng, bias.shape, np.float64)
    dtable = F.relative_position_bias_backward(g, table, buckets)
    np.testing.assert_array_equal(dtable, scatter_add(np.moveaxis(g, 0, -1), buckets, 8))
    gradcheck(lambda t: F.relative_position_bias(t, buckets), [table], [dtable], g)


def test_int32_strided_read_only_and_empty(rng):
    weight = randn(rng, (5, 4), np.float32)
    wide = randn(rng, (5, 8), np.float32)
    strided = wide[:, ::2]
    strided.flags.writeable = False
    idx = np.array([4, 0, 3, 3], dtype=np.int32)[::-1]
    np.testing.assert_array_equal(F.embedding(idx, strided), wide[:, ::2][idx])
    assert F.embedding(np.zeros((2, 0), np.int64), weight).shape == (2, 0, 4)
    np.testing.assert_array_equal(
        F.embedding_backward(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), weight), 0
    )


def test_errors(rng):
    weight = randn(rng, (5, 4), np.float32)
    with pytest.raises(
        ValueError, match=r"indices: value 5 at flat position 2 is out of range \[0, 5\)"
    ):
        F.embedding(np.array([0, 1, 5]), weight)
    with pytest.raises(ValueError, match="indices: value -1"):
        F.embedding(np.array([-1]), weight)
    with pytest.raises(TypeError, match="indices: expected an integer dtype, got float32"):
        F.embedding(np.array([0.0], np.float32), weight)
    with pytest.raises(ValueError, match=r"weight: expected 2 dimensions \(num_embeddings, D\)"):
        F.embedding(np.array([0]), weight[0])
    with pytest.raises(ValueError, match=r"padding_idx: expected an int in \[-5, 5\), got 5"):
        F.embedding(np.array([0]), weight, padding_idx=5)
    with pytest.raises(ValueError, match=r"grad_out: expected shape \(3, 4\)"):
        F.embedding_backward(np.zeros((3, 5), np.float32), np.array([0, 1, 2]), weight)


@pytest.mark.parametrize("vocab", [1, 5])
def test_index_minus_one_minus_vocab_is_out_of_range_too(rng, vocab):
    # A fuzz finding: -1 - vocab was the "no exemption" sentinel of the range check, so that
    # one negative index read the row before the weight (ASan: heap-buffer-overflow).
    weight = randn(rng, (vocab, 1), np.float32)
    bad = np.array([0, -1 - vocab])
    with pytest.raises(ValueError, match=rf"indices: value {-1 - vocab} at flat position 1"):
        F.embedding(bad, weight)
    with pytest.raises(ValueError, match=rf"indices: value {-1 - vocab} at flat position 1"):
        F.embedding_backward(np.zeros((2, 1), np.float32), bad, weight)
