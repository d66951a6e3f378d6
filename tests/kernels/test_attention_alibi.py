"""ALiBi generated inside the fused kernel (alibi_slopes=) equals the materialized bias path."""

import numpy as np
import pytest

import attnlab as al
from reference import attention, attention_backward

F = al.functional
SDPA = F.scaled_dot_product_attention
BACKWARD = F.scaled_dot_product_attention_backward


def _inputs(rng, dtype, heads, lq, lk, d=9):
    q = rng.standard_normal((2, heads, lq, d)).astype(dtype)
    k = rng.standard_normal((2, heads, lk, d)).astype(dtype)
    v = rng.standard_normal((2, heads, lk, 5)).astype(dtype)
    g = rng.standard_normal((2, heads, lq, 5)).astype(dtype)
    return q, k, v, g


def _tolerance(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("lq, lk", [(1, 1), (17, 17), (9, 70), (70, 9), (65, 131)])
@pytest.mark.parametrize("alignment", ["top_left", "bottom_right"])
@pytest.mark.parametrize("is_causal", [False, True])
def test_in_kernel_alibi_matches_the_oracle_with_the_bias(
    arch, rng, dtype, lq, lk, alignment, is_causal
):
    heads = 12
    q, k, v, g = _inputs(rng, dtype, heads, lq, lk)
    slopes = F.alibi_slopes(heads).astype(dtype)
    bias = F.alibi_bias(heads, lq, lk, causal_alignment=alignment, dtype=np.float64)
    kw = dict(is_causal=is_causal, causal_alignment=alignment)
    out = SDPA(q, k, v, alibi_slopes=slopes, **kw)
    want = attention(q, k, v, bias=bias, **kw)
    np.testing.assert_allclose(out, want, rtol=0, atol=_tolerance(dtype))
    dq, dk, dv = BACKWARD(g, q, k, v, alibi_slopes=slopes, **kw)
    wq, wk, wv, _ = attention_backward(g, q, k, v, bias=bias, **kw)
    for got, ref in ((dq, wq), (dk, wk), (dv, wv)):
        tol = 10 * _tolerance(dtype) * max(1.0, float(np.abs(ref).max(initial=0.0)))
        np.testing.assert_allclose(got, ref, rtol=0, atol=tol)


def test_in_kernel_alibi_combines_with_mask_bias_window_and_weights(arch, rng):
    heads, lq, lk = 4, 33, 47
    q, k, v, g = _inputs(rng, np.float64, heads, lq, lk)
    slopes = F.alibi_slopes(heads)
    extra = rng.standard_normal((lq, lk))
    mask = rng.random((2, 1, lq, lk)) > 0.3
    kw = dict(window=(7, 2), causal_alignment="bottom_right")
    out, w = SDPA(q, k, v, mask, extra, alibi_slopes=slopes, return_weights=True, **kw)
    alibi = F.alibi_bias(heads, lq, lk, causal_alignment="bottom_right", dtype=np.float64)
    full = np.broadcast_to(extra + alibi, (2, heads, lq, lk)).copy()
    want, want_w = attention(q, k, v, mask, full, return_weights=True, **kw)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(w, want_w, rtol=0, atol=1e-12)
    *grads, dbias = BACKWARD(g, q, k, v, mask, extra, alibi_slopes=slopes, **kw)
    *want_grads, want_dfull = attention_backward(g, q, k, v, mask, full, **kw)
    for got, ref in zip(grads, want_grads):
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-11)
    # dbias is the score gradient summed over the bias's broadcast axes (B, H)
    np.testing.assert_allclose(dbias, want_dfull.sum(axis=(0, 1)), rtol=0, atol=1e-11)


def test_alibi_slopes_are_validated(rng):
    q, k, v, _ = _inputs(rng, np.float32, 4, 5, 5)
    with pytest.raises(
        ValueError, match=r"alibi_slopes: expected shape \(4,\), one slope per head"
    ):
        SDPA(q, k, v, alibi_slopes=np.ones(3, np.float32))
    with pytest.raises(
        TypeError, match=r"alibi_slopes: dtype float64 does not match q's dtype float32"
    ):
        SDPA(q, k, v, alibi_slopes=np.ones(4))
    with pytest.raises(TypeError, match=r"alibi_slopes: expected a NumPy array"):
        SDPA(q, k, v, alibi_slopes=[1.0, 1.0, 1.0, 1.0])
