"""nn/kv_cache.py: a KVCache fed call after call to MultiheadAttention gives the rows of one
causal call over the whole sequence (every position encoding, grouped-query heads, masks),
records its weights, lets gradients reach the current call's inputs, and rejects what it
cannot serve."""

from itertools import pairwise

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import gradcheck

nn = al.nn

POSITIONS = [None, "rotary", "alibi", "t5"]


def attention(positions, dtype=np.float64, **kw):
    al.manual_seed(0)
    mha = nn.MultiheadAttention(12, 3, positions=positions, dtype=dtype, **kw)
    rng = np.random.default_rng(1)
    for p in mha.parameters():  # away from the init's zero biases and tiny T5 table
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    return mha


def incremental(mha, x, splits, **kw):
    """mha over x (B, L, C) in chunks ending at ``splits``, through one cache."""
    cache = nn.KVCache()
    bounds = [0, *splits, x.shape[1]]
    outs = [mha(x[:, a:b], is_causal=True, cache=cache, **kw).data for a, b in pairwise(bounds)]
    return np.concatenate(outs, axis=1), cache


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunks_through_a_cache_equal_one_causal_call(rng, positions, dtype):
    mha = attention(positions, dtype)
    x = rng.standard_normal((2, 9, 12)).astype(dtype)
    full = mha(x, is_causal=True).data
    got, cache = incremental(mha, x, [4, 5, 7])
    # Every kernel sums in an order that does not depend on how many rows it is given.
    np.testing.assert_array_equal(got, full)
    assert len(cache) == 9 and cache.keys.shape == (2, 3, 9, 4)


def test_grouped_query_heads_and_masks_over_every_key(rng):
    mha = attention("rotary", num_kv_heads=1)
    x = rng.standard_normal((2, 7, 12))
    key_mask = np.ones((2, 7), dtype=bool)
    key_mask[1, 1] = False
    full = mha(x, is_causal=True, key_mask=key_mask).data
    cache = nn.KVCache()
    first = mha(x[:, :4], is_causal=True, cache=cache, key_mask=key_mask[:, :4]).data
    rest = mha(x[:, 4:], is_causal=True, cache=cache, key_mask=key_mask).data
    np.testing.assert_allclose(np.concatenate([first, rest], 1), full, rtol=1e-12, atol=1e-12)
    assert cache.keys.shape == (2, 1, 7, 4)


def test_weights_are_recorded_over_the_cached_keys(rng):
    mha = attention("alibi")
    x = rng.standard_normal((1, 5, 12))
    with al.record_attention(mha) as rec:
        _, weights = mha(x, is_causal=True, return_weights=True)
        cache = nn.KVCache()
        mha(x[:, :4], is_causal=True, cache=cache)
        _, last = mha(x[:, 4:], is_causal=True, cache=cache, return_weights=True)
    assert last.shape == (1, 3, 1, 5)
    np.testing.assert_allclose(last.data[:, :, 0], weights.data[:, :, 4], atol=1e-12)
    np.testing.assert_array_equal(rec[""], last.data)


def test_gradients_reach_the_current_call_not_the_cache(rng):
    mha = attention("rotary")
    x = rng.standard_normal((1, 6, 12))
    past = nn.KVCache()
    mha(x[:, :4], is_causal=True, cache=past)

    def continued(new):
        cache = nn.KVCache()
        cache.keys, cache.values = past.keys, past.values  # the same past every call
        return mha(new, is_causal=True, cache=cache)

    assert gradcheck(continued, [al.tensor(x[:, 4:], requires_grad=True)])


def test_clear_and_repr():
    cache = nn.KVCache()
    k = al.tensor(np.zeros((1, 2, 3, 4)))
    cache.extend(k, k)
    assert len(cache) == 3 and repr(cache) == "KVCache(length=3)"
    cache.clear()
    assert len(cache) == 0 and cache.keys is None


def test_errors(rng):
    mha = attention(None)
    x = rng.standard_normal((2, 3, 12))
    with pytest.raises(TypeError, match="cache: expected a KVCache, got list"):
        mha(x, cache=[])
    with pytest.raises(ValueError, match="cache: only self-attention caches"):
        mha(x, x.copy(), cache=nn.KVCache())
    with pytest.raises(ValueError, match="cache: cannot be combined with add_bias_kv"):
        attention(None, add_bias_kv=True)(x, cache=nn.KVCache())
    cache = nn.KVCache()
    mha(x, cache=cache)
    with pytest.raises(
        ValueError,
        match=r"cache: holds keys float64 \(2, 3, 3, 4\), which keys "
        r"float64 \(1, 3, 1, 4\) cannot follow",
    ):
        mha(x[:1, :1], cache=cache)
    with pytest.raises(ValueError, match=r"key_mask: expected shape \(B, Lk\) = \(2, 4\)"):
        mha(x[:, :1], cache=cache, key_mask=np.ones((2, 1), dtype=bool))
