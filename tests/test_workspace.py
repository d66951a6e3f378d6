"""The core's scratch cache (cpp/src/workspace.cpp): bounded, emptied on request, and never a
source of stale data: results are bitwise the same from a warm cache as from a cold one."""

import numpy as np

import attnlab as al
from attnlab import _core

F = al.functional
CACHE_LIMIT = 64 << 20


def run_all(rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    q, k, v = (rng.standard_normal((2, 3, 131, 40)).astype(np.float32) for _ in range(3))
    mask = rng.random((131, 131)) < 0.8
    out, w, stats = F.scaled_dot_product_attention(q, k, v, mask, is_causal=True,
                                                   return_weights=True, return_stats=True)
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
    assert 0 < _core.workspace_cached_bytes() <= CACHE_LIMIT
    _core.workspace_trim()
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
