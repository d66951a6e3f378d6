"""Tile boundaries of the fused attention kernels (cpp/src/kernels/attention.hpp): lengths and
head dims at block size -1/+0/+1, Lq != Lk, every mask kind across tile positions, the
plain-product P V path next to the NaN-safe one, and thread-count bitwise determinism."""

import numpy as np
import pytest

import attnlab as al
import reference as ref
from attnlab import _core

F = al.functional
BQ, BK = _core.attention_blocks
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [np.float32, np.float64]


def qkv(rng, dtype, lq, lk, d, dv=None, h=2, hkv=None):

    def shape(l, dim, heads):
        return (1, heads, l, dim)

    q = rng.standard_normal(shape(lq, d, h)).astype(dtype)
    k = rng.standard_normal(shape(lk, d, hkv or h)).astype(dtype)
    v = rng.standard_normal(shape(lk, dv or d, hkv or h)).astype(dtype)
    return q, k, v


def check(q, k, v, mask=None, bias=None, **opts):
    dtype = q.dtype.type
    out, w = F.scaled_dot_product_attention(q, k, v, mask, bias, return_weights=True, **opts)
    want, want_w = ref.attention(q, k, v, mask, bias, return_weights=True, **opts)
    np.testing.assert_allclose(out, want, **TOL[dtype], err_msg="out")
    np.testing.assert_allclose(w, want_w, **TOL[dtype], err_msg="weights")
    plain = F.scaled_dot_product_attention(q, k, v, mask, bias, **opts)
    np.testing.assert_array_equal(plain, out)  # weights never change the output
    g = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    got = F.scaled_dot_product_attention_backward(g, q, k, v, mask, bias, **opts)
    wants = ref.attention_backward(g, q, k, v, mask, bias, **opts)
    for name, a, b in zip(("dq", "dk", "dv", "dbias"), got, wants):
        np.testing.assert_allclose(
            a, b, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10, err_msg=name
        )
    return out, w


LENGTHS = sorted({1, BQ - 1, BQ, BQ + 1, BK - 1, BK, BK + 1, 2 * BK + 1})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lq", LENGTHS)
def test_lengths(arch, dtype, lq):
    rng = np.random.default_rng(lq)
    for lk in (lq, BK + 1, max(1, lq // 3)):
        check(*qkv(rng, dtype, lq, lk, 16))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 15, 16, 17, 31, 32, 33, 63, 64, 65])
def test_head_dims(arch, dtype, d):
    rng = np.random.default_rng(d)
    check(*qkv(rng, dtype, BQ + 1, BK + 1, d))
    check(*qkv(rng, dtype, 7, BK - 1, d, dv=d + 3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alignment", ["top_left", "bottom_right"])
@pytest.mark.parametrize("lq,lk", [(2 * BQ + 3, 2 * BK + 5), (BQ + 1, 3 * BK), (3 * BK, BQ - 1)])
def test_causal_and_window_across_tiles(arch, dtype, alignment, lq, lk):
    rng = np.random.default_rng(lq + lk)
    q, k, v = qkv(rng, dtype, lq, lk, 8)
    check(q, k, v, is_causal=True, causal_alignment=alignment)
    check(q, k, v, window=(BK // 2, 3), causal_alignment=alignment)
    check(q, k, v, window=(None, 0), is_causal=True, causal_alignment=alignment)


@pytest.mark.parametrize("dtype", DTYPES)
def test_masks_and_bias_across_tiles(arch, dtype):
    rng = np.random.default_rng(5)
    lq, lk = 2 * BQ + 1, 2 * BK + 3
    q, k, v = qkv(rng, dtype, lq, lk, 8, h=4, hkv=2)
    mask = rng.random((lq, lk)) < 0.6
    mask[BQ + 2] = False  # a fully masked row inside the second query block
    mask[:, BK : 2 * BK] = False  # a fully masked key block
    bias = rng.standard_normal((1, 4, lq, lk)).astype(dtype)
    out, w = check(q, k, v, mask, bias)
    assert np.all(out[:, :, BQ + 2] == 0) and np.all(w[:, :, BQ + 2] == 0)
    assert np.all(w[..., BK : 2 * BK] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("poison", [np.nan, np.inf, 1e30])
def test_poison_in_masked_keys_and_values(arch, dtype, poison):
    """Masked-out K/V rows in one key block take the NaN-safe P V path; other blocks the plain
    product. Neither lets the poison reach outputs or gradients."""
    rng = np.random.default_rng(6)
    lq, lk = BQ + 3, 2 * BK + 7
    q, k, v = qkv(rng, dtype, lq, lk, 8)
    mask = np.ones((lq, lk), bool)
    bad = [3, BK + 1, 2 * BK + 6]
    mask[:, bad] = False
    clean = check(q, k, v, mask)
    k2, v2 = k.copy(), v.copy()
    k2[..., bad, :] = poison
    v2[..., bad, :] = poison
    out, w = F.scaled_dot_product_attention(q, k2, v2, mask, return_weights=True)
    np.testing.assert_array_equal(out, clean[0])
    np.testing.assert_array_equal(w, clean[1])
    g = rng.standard_normal(out.shape).astype(dtype)
    got = F.scaled_dot_product_attention_backward(g, q, k2, v2, mask)
    want = F.scaled_dot_product_attention_backward(g, q, k, v, mask)
    for a in got:
        assert np.isfinite(a).all()
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_item_26_thread_count_bitwise(arch, dtype):
    """2 (batch, kv head) pairs: the forward runs one task per pair, packing K and V itself, at
    1 and 2 threads, and per query block on K and V packed once at 3."""
    rng = np.random.default_rng(7)
    q, k, v = qkv(rng, dtype, 3 * BQ + 5, 2 * BK + 9, 24, h=4, hkv=2)
    mask = rng.random((q.shape[2], k.shape[2])) < 0.8
    g = rng.standard_normal(q.shape[:3] + (24,)).astype(dtype)
    opts = dict(is_causal=True, causal_alignment="bottom_right", dropout_p=0.2, seed=3)
    saved = al.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            al.set_num_threads(n)
            out, w = F.scaled_dot_product_attention(q, k, v, mask, return_weights=True, **opts)
            grads = F.scaled_dot_product_attention_backward(g, q, k, v, mask, **opts)
            results.append((out, w) + tuple(grads))
    finally:
        al.set_num_threads(saved)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_item_20_nonfinite_query_and_grad_rows_stay_in_their_keys(arch, dtype):
    """A NaN query row (and grad row) that may see only keys 0..2 makes only those keys' dK/dV
    NaN; the GEMM path must not spread it through the rest of its tile."""
    rng = np.random.default_rng(8)
    lq, lk = BQ + 2, 2 * BK + 1
    q, k, v = qkv(rng, dtype, lq, lk, 8)
    mask = np.ones((lq, lk), bool)
    mask[1, 3:] = False
    q[..., 1, :] = np.nan
    g = rng.standard_normal(q.shape).astype(dtype)
    g[..., 1, :] = np.inf
    dq, dk, dv = F.scaled_dot_product_attention_backward(g, q, k, v, mask)
    assert np.isfinite(dk[..., 3:, :]).all() and np.isfinite(dv[..., 3:, :]).all()
    assert np.isfinite(np.delete(dq, 1, axis=2)).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_item_20_nan_in_a_visible_query_stays_in_its_row(arch, dtype):
    """NaN passes the softmax's exp (no select): its row is NaN, every other row unchanged."""
    rng = np.random.default_rng(9)
    q, k, v = qkv(rng, dtype, BQ + 3, BK + 5, 8)
    clean, clean_w = F.scaled_dot_product_attention(q, k, v, return_weights=True)
    q[..., 2, 0] = np.nan
    out, w = F.scaled_dot_product_attention(q, k, v, return_weights=True)
    assert np.isnan(out[..., 2, :]).all() and np.isnan(w[..., 2, :]).all()
    np.testing.assert_array_equal(np.delete(out, 2, axis=2), np.delete(clean, 2, axis=2))
    np.testing.assert_array_equal(np.delete(w, 2, axis=2), np.delete(clean_w, 2, axis=2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("poison_k", [False, True], ids=["", "inf_in_masked_keys"])
def test_per_head_and_two_pass_backward_agree_bitwise(arch, restore_threads, dtype, poison_k):
    """3 (batch, kv head) pairs: one task per pair at 1 and 3 threads, key-block and
    query-block passes at 2. dq, dk, dv and dbias are bitwise the same either way, also
    through the NaN-safe products for a key block holding inf where the mask hides it."""
    rng = np.random.default_rng(5)
    q, k, v = qkv(rng, dtype, 2 * BQ + 3, 2 * BK + 7, 20, h=6, hkv=3)
    mask = rng.random((q.shape[2], k.shape[2])) < 0.8
    if poison_k:
        mask[:, BK + 2] = False
        k[0, 1, BK + 2, 3] = np.inf
    bias = rng.standard_normal(mask.shape).astype(dtype)
    g = rng.standard_normal(q.shape[:3] + (20,)).astype(dtype)
    results = []
    for n in (1, 2, 3):
        al.set_num_threads(n)
        results.append(
            F.scaled_dot_product_attention_backward(g, q, k, v, mask, bias, is_causal=True)
        )
    for other in results[1:]:
        for name, a, b in zip(("dq", "dk", "dv", "dbias"), results[0], other):
            assert np.isfinite(a).all(), name
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lk", [1, 7, 17, 2 * BK + 5])
def test_weights_fill_an_uninitialized_array(arch, dtype, lk):
    """The kernel writes every weight, zeros included, so the weights array may start as
    garbage, misaligned and with rows of any length; whole query blocks seeing no key too."""
    from attnlab.functional.attention import _prepare

    rng = np.random.default_rng(lk)
    lq = 2 * BQ + 3
    q, k, v = qkv(rng, dtype, lq, lk, 8)
    mask = rng.random((lq, lk)) < 0.7
    mask[BQ + 1] = False
    for opts in (
        dict(is_causal=True),
        dict(is_causal=True, causal_alignment="bottom_right"),
        dict(window=(0, 0)),
        dict(window=(BK // 2, 3), causal_alignment="bottom_right"),
    ):
        want = F.scaled_dot_product_attention(q, k, v, mask, return_weights=True, **opts)[1]
        c = _prepare(
            q,
            k,
            v,
            mask,
            None,
            None,
            opts.get("is_causal", False),
            opts.get("causal_alignment", "top_left"),
            opts.get("window"),
            None,
            0.0,
            None,
            need_seed="",
        )
        w = np.full(want.size + 1, np.nan, dtype)[1:].reshape(want.shape)  # one element off
        _core.attention_forward(
            c.q,
            c.k,
            c.v,
            c.mask,
            c.bias,
            c.alibi_slopes,
            c.options,
            out=np.empty(q.shape, dtype),
            weights=w,
        )
        np.testing.assert_array_equal(w, want, err_msg=str(opts))
        seen = mask & ref.allowed_keys(lq, lk, **opts)
        assert np.all(w[..., ~seen] == 0), opts


@pytest.mark.parametrize("dtype", DTYPES)
def test_plain_blocks_match_the_general_path_bitwise(arch, dtype):
    """Blocks with no bias or mask guess that they leave a row's max unchanged; a zero bias
    sends every block through the general path. Rows whose max rises, falls or stays across
    key blocks, and rows holding NaN (all or some of their scores) or inf, give bitwise the same
    out, weights and stats."""
    rng = np.random.default_rng(11)
    lq, lk = BQ + 3, 3 * BK + 5
    q, k, v = qkv(rng, dtype, lq, lk, 16)
    ramp = np.linspace(0.1, 3.0, lk, dtype=dtype)[:, None]
    k[0, 0] *= ramp  # head 0: scores grow along the keys, the max keeps rising
    k[0, 1] *= ramp[::-1]  # head 1: they shrink, the first block holds the max
    q[0, 0, 5, 3] = np.nan  # a row of NaN scores
    k[0, 0, 7, 2] = np.nan  # a NaN score in every row of head 0, in its first block
    k[0, 1, 2 * BK + 1, 0] = np.inf
    zero = np.zeros((lq, lk), dtype)
    got = F.scaled_dot_product_attention(q, k, v, return_weights=True, return_stats=True)
    want = F.scaled_dot_product_attention(
        q, k, v, bias=zero, return_weights=True, return_stats=True
    )
    for name, a, b in zip(
        ("out", "weights", "row_max_base2", "row_inv"),
        got[:2] + tuple(got[2]),
        want[:2] + tuple(want[2]),
    ):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert np.isnan(got[0][0, 0]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_outputs_from_the_cache_are_written_in_full(arch, restore_threads, dtype):
    """out, dq, dk and dv come from the workspace cache, whose blocks are poisoned with NaN
    here first: every element is still written, zeros included (top-left causal with Lk > Lq
    leaves keys that no query sees), by the per-head and the two-pass backward alike."""
    rng = np.random.default_rng(12)
    q, k, v = qkv(rng, dtype, BQ + 3, 2 * BK + 5, 20, h=4, hkv=2)
    g = rng.standard_normal(q.shape).astype(dtype)
    for n in (1, 3):
        al.set_num_threads(n)
        al.empty_cache()
        poison = [_core.cached_empty(x.shape, dtype) for x in (q, q, k, v)]
        for p in poison:
            p.fill(np.nan)
        del poison, p
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        grads = F.scaled_dot_product_attention_backward(g, q, k, v, is_causal=True)
        want = ref.attention(q, k, v, is_causal=True)
        np.testing.assert_allclose(out, want, **TOL[dtype])
        unseen = slice(q.shape[2], None)
        assert np.all(grads[1][..., unseen, :] == 0) and np.all(grads[2][..., unseen, :] == 0)
        for name, a in zip(("out", "dq", "dk", "dv"), (out,) + tuple(grads)):
            assert np.isfinite(a).all(), (n, name)
