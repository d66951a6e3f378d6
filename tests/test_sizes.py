"""Sizes at the edges of the core's arithmetic (RELIABILITY.md item 14): dropout's 64-bit flat
counter (cpp/src/kernels/random.hpp), zero-size scratch (cpp/src/workspace.cpp), shapes whose
results cannot fit in memory or in 64 bits, window bounds past every key
(cpp/src/attention.cpp) and empty head dims (D = 0, Dv = 0)."""

import numpy as np
import pytest

import attnlab as al
from attnlab import _core
from reference import attention, attention_backward
from reference_random import attention_keep, functional_keep

F = al.functional
UNBOUNDED = 2**63 - 1
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 17, 1025, 70001])
def test_functional_masks_follow_the_generators_definition(dtype, n):
    """Below 2**32 elements the masks are what the 32-bit counter drew (the NumPy definition in
    reference_random.py, checked against the build before the counter became 64-bit)."""
    x = np.ones(n, dtype)
    for seed in (0, 7, 2**64 - 1):
        for p in (0.1, 0.5, 0.9):
            kept = F.dropout(x, p, seed=seed) != 0
            np.testing.assert_array_equal(kept, functional_keep(seed, p, n), err_msg=f"{seed} {p}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 37, 130), (1, 2, 100, 257)])
def test_attention_masks_follow_the_generators_definition(dtype, shape):
    """With q = k = 0 the weights are uniform, and with V = I the output's row i is row i of
    the kept mask times 1 / ((1 - p) Lk)."""
    b, h, lq, lk = shape
    q, k = np.zeros((b, h, lq, 4), dtype), np.zeros((b, h, lk, 4), dtype)
    v = np.broadcast_to(np.eye(lk, dtype=dtype), (b, h, lk, lk))
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3, seed=12345)
    np.testing.assert_array_equal(out != 0, attention_keep(12345, 0.3, b, h, lq, lk))


def _mask_at(first, n, p=0.5, seed=9):
    x = np.ones(n, np.float32)
    out = np.empty_like(x)
    _core.dropout_forward(x, p, seed, out=out, first=first)
    return out != 0


@pytest.mark.parametrize("first", [2**32 - 1000, 2**32, 5 * 2**32 + 3, 2**63 - 1 - 4096])
def test_flat_counter_is_64_bit(first):
    np.testing.assert_array_equal(_mask_at(first, 4096), functional_keep(9, 0.5, 4096, first))


def test_positions_i_and_i_plus_2_to_the_32_draw_independently():
    n = 200_000
    low, high = _mask_at(0, n), _mask_at(2**32, n)
    agree = np.mean(low == high)
    assert abs(agree - 0.5) < 6 * np.sqrt(0.25 / n), agree  # independent fair coins


@pytest.mark.parametrize("first", [-1, 2**63 - 4096])
def test_flat_counter_offset_out_of_range(first):
    with pytest.raises(
        ValueError, match=f"first: expected 0 <= first <= 2\\*\\*63 - 1 - x.size, got {first}"
    ):
        _mask_at(first, 4096)


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 5, 7)])
def test_zero_size_cached_arrays(shape):
    a = _core.cached_empty(shape, np.float32)
    assert a.shape == shape and a.dtype == np.float32 and a.size == 0


def test_cached_arrays_beyond_memory_or_64_bits_fail_before_allocating():
    with pytest.raises(MemoryError):
        _core.cached_empty((2**20, 2**20, 4), np.float32)  # 16 TiB
    with pytest.raises(ValueError, match="exceed the address space"):
        _core.cached_empty((2**32, 2**32, 2), np.float32)


def test_broadcast_giant_q_raises_memory_error():
    q = np.broadcast_to(np.zeros(64, np.float32), (2**20, 2**20, 1, 64))
    with pytest.raises(MemoryError):
        F.scaled_dot_product_attention(q, q, q)


@pytest.mark.parametrize("lq, lk, error", [(2**20, 2**20, MemoryError), (2**40, 2**40, ValueError)])
def test_weights_of_giant_lq_by_lk_fail_before_allocating(lq, lk, error):
    """Empty head dims make q, k and v free, so only the weights would be large."""
    q, k = np.zeros((1, 1, lq, 0), np.float32), np.zeros((1, 1, lk, 0), np.float32)
    with pytest.raises(error):
        F.scaled_dot_product_attention(q, k, k, return_weights=True)


def test_giant_output_of_empty_head_dim_fails_before_allocating():
    q, k = np.zeros((1, 1, 2**40, 0), np.float32), np.zeros((1, 1, 4, 0), np.float32)
    with pytest.raises(MemoryError):
        F.scaled_dot_product_attention(q, k, np.ones((1, 1, 4, 1), np.float32))


def test_giant_sequences_with_empty_head_dims_return_at_once():
    """D = Dv = 0: the output and gradients are empty whatever Lq and Lk, and nothing loops
    over Lq x Lk = 2**80 scores."""
    q, k = np.zeros((1, 2, 2**40, 0), np.float32), np.zeros((1, 1, 2**40, 0), np.float32)
    assert F.scaled_dot_product_attention(q, k, k, is_causal=True).shape == (1, 2, 2**40, 0)
    dq, dk, dv = F.scaled_dot_product_attention_backward(q, q, k, k, is_causal=True)
    assert dq.shape == q.shape and dk.shape == k.shape and dv.shape == k.shape


def test_giant_linear_output_raises_memory_error():
    x = np.zeros((2**20, 0), np.float32)
    with pytest.raises(MemoryError):
        F.linear(x, np.zeros((2**22, 0), np.float32))


def _kernel_forward(q, k, v, left, right, bottom_right):
    out = np.empty(q.shape[:3] + v.shape[3:], q.dtype)
    options = _core.AttentionOptions(
        scale=0.5, bottom_right=bottom_right, window_left=left, window_right=right
    )
    _core.attention_forward(q, k, v, None, None, None, options, out=out, weights=None)
    return out


@pytest.mark.parametrize("lq, lk", [(37, 20), (20, 37)])
@pytest.mark.parametrize("bottom_right", [False, True])
@pytest.mark.parametrize(
    "left, right",
    [(2**62, 2**62), (UNBOUNDED - 1, UNBOUNDED - 1), (UNBOUNDED - 1, 0), (3, UNBOUNDED - 1)],
)
def test_binding_window_bounds_past_every_key(rng, lq, lk, bottom_right, left, right):
    """Sides beyond every key mean unbounded; none overflows a - left or a + right + 1 (a row's
    aligned position a is negative for bottom-right rows above the diagonal when Lq > Lk)."""
    q = rng.standard_normal((1, 2, lq, 8))
    k, v = rng.standard_normal((1, 2, lk, 8)), rng.standard_normal((1, 2, lk, 5))

    def bound(side):
        return UNBOUNDED if side >= 2**62 else side

    want = _kernel_forward(q, k, v, bound(left), bound(right), bottom_right)
    np.testing.assert_array_equal(_kernel_forward(q, k, v, left, right, bottom_right), want)
    window = tuple(None if side >= 2**62 else side for side in (left, right))
    alignment = "bottom_right" if bottom_right else "top_left"
    np.testing.assert_allclose(
        want, attention(q, k, v, window=window, causal_alignment=alignment, scale=0.5), atol=1e-12
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d, dv", [(0, 5), (7, 0), (0, 0)])
def test_empty_head_dims(rng, dtype, d, dv):
    """D = 0 gives all-zero scores (uniform weights over the visible keys); Dv = 0 an empty
    output and zero dq, dk; both with the gradients' right shapes."""
    q = rng.standard_normal((2, 2, 9, d)).astype(dtype)
    k = rng.standard_normal((2, 1, 11, d)).astype(dtype)
    v = rng.standard_normal((2, 1, 11, dv)).astype(dtype)
    g = rng.standard_normal((2, 2, 9, dv)).astype(dtype)
    mask = rng.random((9, 11)) < 0.7
    out, weights = F.scaled_dot_product_attention(
        q, k, v, mask, is_causal=True, return_weights=True
    )
    want_out, want_weights = attention(q, k, v, mask, is_causal=True, return_weights=True)
    assert out.shape == (2, 2, 9, dv) and weights.shape == (2, 2, 9, 11)
    tol = dict(atol=1e-6, rtol=1e-5) if dtype == np.float32 else dict(atol=1e-12)
    np.testing.assert_allclose(out, want_out, **tol)
    np.testing.assert_allclose(weights, want_weights, **tol)
    grads = F.scaled_dot_product_attention_backward(g, q, k, v, mask, is_causal=True)
    want = attention_backward(g, q, k, v, mask, is_causal=True)
    for got, expected, x in zip(grads, want, (q, k, v)):
        assert got.shape == x.shape and got.dtype == dtype
        np.testing.assert_allclose(got, expected, **tol)
