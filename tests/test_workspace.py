"""The core's scratch cache (cpp/src/workspace.cpp): bounded, emptied on request, and never a
source of stale data: results are bitwise the same from a warm cache as from a cold one.
Arrays it backs (attention weights) give their memory back only once no view is left."""

import gc

import numpy as np
import pytest

import attnlab as al
from attnlab import _core

F = al.functional
CACHE_LIMIT = 512 << 20


def run_all(rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    q, k, v = (rng.standard_normal((2, 3, 131, 40)).astype(np.float32) for _ in range(3))
    mask = rng.random((131, 131)) < 0.8
    out, w, stats = F.scaled_dot_product_attention(
        q, k, v, mask, is_causal=True, return_weights=True, return_stats=True
    )
    g = rng.standard_normal(out.shape).astype(np.float32)
    grads = F.scaled_dot_product_attention_backward(g, q, k, v, mask, is_causal=True)
    x = rng.standard_normal((37, 40)).astype(np.float32)
    lin = F.linear(x, rng.standard_normal((19, 40)).astype(np.float32))
    return (out, w, *stats, *grads, lin)


def test_cache_is_bounded_and_trims():
    run_all()
    assert 0 < _core.workspace_cached_bytes() <= CACHE_LIMIT
    rng = np.random.default_rng(1)
    q = rng.standard_normal((4, 8, 1024, 64)).astype(np.float32)
    F.scaled_dot_product_attention_backward(q, q, q, q)
    held = _core.workspace_cached_bytes()
    assert 0 < held <= CACHE_LIMIT
    assert al.empty_cache() == held
    assert _core.workspace_cached_bytes() == 0


def test_warm_cache_gives_bitwise_the_cold_results():
    _core.workspace_trim()
    cold = run_all()
    # Fill the cache with blocks of other sizes and contents, then run again.
    rng = np.random.default_rng(2)
    junk = rng.standard_normal((3, 5, 257, 72)).astype(np.float32) * 1e30
    F.scaled_dot_product_attention_backward(junk, junk, junk, junk, is_causal=True)
    warm = run_all()
    assert len(cold) == len(warm)
    for a, b in zip(cold, warm):
        np.testing.assert_array_equal(a, b)


def test_cached_arrays_return_their_memory_only_when_no_view_is_left():
    gc.collect()  # cached arrays in earlier tests' reference cycles return to the cache now,
    _core.workspace_trim()  # not inside the checks below
    a = _core.cached_empty((3, 1000, 1000), np.float32)
    assert a.shape == (3, 1000, 1000) and a.dtype == np.float32
    assert a.flags.c_contiguous and a.flags.writeable
    address = a.ctypes.data
    view = a[1]
    del a
    gc.collect()
    assert _core.workspace_cached_bytes() == 0  # the view keeps the block
    view[:] = 1.0
    del view
    gc.collect()
    assert _core.workspace_cached_bytes() >= 3 * 1000 * 1000 * 4
    b = _core.cached_empty((3, 1000, 1000), np.float32)
    assert b.ctypes.data == address  # the same block, from the cache
    c = _core.cached_empty((3, 1000, 1000), np.float32)
    assert not np.shares_memory(b, c)


def test_weights_of_two_live_calls_never_share_memory(rng):
    q, k, v = (rng.standard_normal((2, 2, 300, 16)).astype(np.float32) for _ in range(3))
    _, w1 = F.scaled_dot_product_attention(q, k, v, return_weights=True)
    _, w2 = F.scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)
    assert not np.shares_memory(w1, w2)
    assert np.all(np.triu(w2[0, 0], 1) == 0) and not np.all(np.triu(w1[0, 0], 1) == 0)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((2, -1), r"shape: negative dimension -1"),
        ((2**40, 2**40), r"shape: the array would exceed the address space"),
    ],
)
def test_cached_empty_rejects_impossible_shapes(shape, message):
    with pytest.raises(ValueError, match=message):
        _core.cached_empty(shape, np.float32)
