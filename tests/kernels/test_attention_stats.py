"""The forward's softmax statistics (``return_stats=True``) and the backward that takes them
(``out=``, ``stats=``) instead of running the forward again: the statistics against the float64
oracle, and gradients bitwise equal to the recomputing backward under every option."""

import numpy as np
import pytest

import attnlab as al
import reference as ref

F = al.functional
DTYPES = [np.float32, np.float64]
LSE_TOL = {np.float32: 2e-5, np.float64: 1e-12}

CASES = {
    "plain": dict(),
    "mask": dict(mask=(2, 1, 17, 9)),
    "bias": dict(bias=(4, 17, 9)),
    "causal_top_left": dict(is_causal=True),
    "causal_bottom_right": dict(is_causal=True, causal_alignment="bottom_right"),
    "window": dict(window=(3, 1)),
    "gqa": dict(hkv=2),
    "alibi": dict(alibi=True),
    "dropout": dict(dropout_p=0.3, seed=11),
    "everything": dict(
        hkv=1,
        mask=(17, 9),
        bias=(2, 4, 17, 9),
        is_causal=True,
        causal_alignment="bottom_right",
        window=(4, 0),
        dropout_p=0.2,
        seed=3,
    ),
}


def make_case(rng, dtype, name, lq, lk, d, dv):
    case = dict(CASES[name])
    hkv = case.pop("hkv", 4)
    q = rng.standard_normal((2, 4, lq, d)).astype(dtype)
    k = rng.standard_normal((2, hkv, lk, d)).astype(dtype)
    v = rng.standard_normal((2, hkv, lk, dv)).astype(dtype)
    if "mask" in case:
        shape = case.pop("mask")
        case["mask"] = rng.random(shape[:-2] + (lq, lk)) < 0.7
    if "bias" in case:
        shape = case.pop("bias")
        case["bias"] = rng.standard_normal(shape[:-2] + (lq, lk)).astype(dtype)
    if case.pop("alibi", False):
        case["alibi_slopes"] = F.alibi_slopes(4).astype(dtype)
    return q, k, v, case


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("lq,lk,d", [(17, 9, 8), (1, 1, 1), (9, 130, 7), (100, 257, 64)])
def test_saved_backward_is_bitwise_the_recomputing_one(arch, rng, dtype, name, lq, lk, d):
    q, k, v, opts = make_case(rng, dtype, name, lq, lk, d, dv=d + 1)
    out, stats = F.scaled_dot_product_attention(q, k, v, return_stats=True, **opts)
    np.testing.assert_array_equal(out, F.scaled_dot_product_attention(q, k, v, **opts))
    g = rng.standard_normal(out.shape).astype(dtype)
    recomputed = F.scaled_dot_product_attention_backward(g, q, k, v, **opts)
    saved = F.scaled_dot_product_attention_backward(g, q, k, v, out=out, stats=stats, **opts)
    assert len(saved) == len(recomputed)
    for name_, a, b in zip(("dq", "dk", "dv", "dbias"), saved, recomputed):
        np.testing.assert_array_equal(a, b, err_msg=name_)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(set(CASES) - {"alibi", "dropout", "everything"}))
@pytest.mark.parametrize("lq,lk", [(1, 1), (7, 9), (17, 129), (1025, 17), (9, 1023)])
def test_stats_match_the_oracle(arch, rng, dtype, name, lq, lk):
    q, k, v, opts = make_case(rng, dtype, name, lq, lk, 16, dv=16)
    _, stats = F.scaled_dot_product_attention(q, k, v, return_stats=True, **opts)
    assert stats.row_max_base2.shape == stats.row_inv.shape == (2, 4, lq)
    assert stats.row_max_base2.dtype == stats.row_inv.dtype == dtype
    want = ref.attention_logsumexp(q, k, v, **opts)
    lse = stats.logsumexp
    np.testing.assert_array_equal(np.isneginf(lse), np.isneginf(want))
    seen = np.isfinite(want)
    np.testing.assert_allclose(lse[seen], want[seen], rtol=LSE_TOL[dtype], atol=LSE_TOL[dtype])
    # The pair itself: 2**(s log2(e) - row_max_base2) * row_inv are the oracle's weights.
    _, weights = ref.attention(q, k, v, return_weights=True, **opts)
    s_max = np.where(seen, stats.row_max_base2, 0.0)
    np.testing.assert_allclose(
        np.exp2(want * np.log2(np.e) - s_max) * stats.row_inv,
        np.where(seen, 1.0, 0.0),
        rtol=LSE_TOL[dtype] * 10,
    )
    assert np.all(stats.row_inv[~seen] == 0) and np.all(weights[~seen] == 0)


def test_stats_of_rows_that_see_no_key(rng):
    q, k, v = (rng.standard_normal((1, 1, 4, 8)).astype(np.float32) for _ in range(3))
    mask = np.ones((4, 4), bool)
    mask[2] = False
    out, stats = F.scaled_dot_product_attention(q, k, v, mask, return_stats=True)
    assert stats.row_max_base2[0, 0, 2] == -np.inf and stats.row_inv[0, 0, 2] == 0
    assert (
        stats.logsumexp[0, 0, 2] == -np.inf and np.isfinite(stats.logsumexp[0, 0, [0, 1, 3]]).all()
    )
    g = np.ones_like(out)
    dq, dk, dv = F.scaled_dot_product_attention_backward(g, q, k, v, mask, out=out, stats=stats)
    assert np.all(dq[0, 0, 2] == 0) and np.isfinite(dk).all() and np.isfinite(dv).all()


def test_finfo_min_bias_keeps_the_sum(rng):
    """A row whose every score is about finfo.min: a log-sum-exp would round the sum away,
    the (row_max_base2, row_inv) pair keeps uniform weights and their gradient."""
    q, k, v = (rng.standard_normal((1, 1, 3, 4)).astype(np.float32) for _ in range(3))
    bias = np.zeros((3, 3), np.float32)
    bias[1] = np.finfo(np.float32).min
    out, stats = F.scaled_dot_product_attention(q, k, v, bias=bias, return_stats=True)
    np.testing.assert_allclose(stats.row_inv[0, 0, 1], 1 / 3, rtol=1e-6)
    g = rng.standard_normal(out.shape).astype(np.float32)
    a = F.scaled_dot_product_attention_backward(g, q, k, v, bias=bias)
    b = F.scaled_dot_product_attention_backward(g, q, k, v, bias=bias, out=out, stats=stats)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("lead", [(), (3,)], ids=["LD", "BLD"])
def test_stats_follow_the_callers_layout(rng, lead):
    q, k, v = (rng.standard_normal(lead + (5, 8)) for _ in range(3))
    out, w, stats = F.scaled_dot_product_attention(q, k, v, return_weights=True, return_stats=True)
    assert out.shape == lead + (5, 8) and w.shape == lead + (5, 5)
    assert stats.row_max_base2.shape == stats.row_inv.shape == lead + (5,)
    np.testing.assert_allclose(
        np.exp(stats.logsumexp), np.exp(ref.attention_logsumexp(q, k, v)), rtol=1e-12
    )
    g = rng.standard_normal(out.shape)
    saved = F.scaled_dot_product_attention_backward(g, q, k, v, out=out, stats=stats)
    for a, b in zip(saved, F.scaled_dot_product_attention_backward(g, q, k, v)):
        np.testing.assert_array_equal(a, b)
