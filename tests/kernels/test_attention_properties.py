"""Property tests of the fused attention kernel (hypothesis), on every arch.

Invariants that hold for any input (RELIABILITY.md, "Fuzzing and property tests"): weight
rows sum to 1, query permutation equivariance, key/value permutation invariance, bias shift
invariance, causal independence from the future, affine equivariance in V, and agreement with
the float64 oracle. Inputs are small float32 arrays with bounded elements.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import attnlab as al
import reference as ref
from reference import allowed_keys

F = al.functional

# The `arch` fixture is function-scoped but constant across examples, which is what we want.
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

ELEMS = st.floats(min_value=-3, max_value=3, width=32)


def f32(draw, shape, elements=ELEMS):
    return draw(arrays(np.float32, shape, elements=elements))


@st.composite
def problems(draw, *, min_len=1, max_len=9, mask=False):
    """Random (q, k, v, mask) with B, H in 1..2/1..3, Lq, Lk, D, Dv small; mask (B, H, Lq, Lk)."""
    b, h = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    lq, lk = draw(st.integers(min_len, max_len)), draw(st.integers(min_len, max_len))
    d, dv = draw(st.integers(1, 9)), draw(st.integers(1, 6))
    q = f32(draw, (b, h, lq, d))
    k = f32(draw, (b, h, lk, d))
    v = f32(draw, (b, h, lk, dv))
    m = draw(arrays(np.bool_, (b, h, lq, lk))) if mask else None
    return q, k, v, m


@SETTINGS
@given(prob=problems(mask=True))
def test_weight_rows_sum_to_one(arch, prob):
    """Rows with at least one allowed key sum to 1 within 1e-5; fully masked rows are 0."""
    q, k, v, mask = prob
    _, w = F.scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    assert not np.isnan(w).any()
    sums = w.sum(-1, dtype=np.float64)
    alive = mask.any(-1)
    assert np.all(np.abs(sums[alive] - 1) <= 1e-5), sums[alive]
    assert np.all(w[~alive] == 0)
    assert np.all(w[~mask] == 0)


@SETTINGS
@given(prob=problems(mask=True), data=st.data())
def test_query_permutation_permutes_output(arch, prob, data):
    """Permuting queries (and mask rows) permutes the output rows the same way."""
    q, k, v, mask = prob
    perm = np.array(data.draw(st.permutations(range(q.shape[-2]))), dtype=np.intp)
    out = F.scaled_dot_product_attention(q, k, v, mask=mask)
    out_p = F.scaled_dot_product_attention(q[..., perm, :], k, v, mask=mask[..., perm, :])
    np.testing.assert_allclose(out_p, out[..., perm, :], rtol=1e-5, atol=1e-5)


@SETTINGS
@given(prob=problems(mask=True), data=st.data())
def test_key_value_permutation_leaves_output_unchanged(arch, prob, data):
    """Jointly permuting keys, values and mask columns leaves the output unchanged."""
    q, k, v, mask = prob
    perm = np.array(data.draw(st.permutations(range(k.shape[-2]))), dtype=np.intp)
    out = F.scaled_dot_product_attention(q, k, v, mask=mask)
    out_p = F.scaled_dot_product_attention(
        q, k[..., perm, :], v[..., perm, :], mask=mask[..., perm]
    )
    np.testing.assert_allclose(out_p, out, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(
    prob=problems(mask=True), data=st.data(), c=st.floats(min_value=-100, max_value=100, width=32)
)
def test_item_21_bias_shift_invariance(arch, prob, data, c):
    """Adding a constant c (|c| <= 100) to the bias leaves the output unchanged."""
    q, k, v, mask = prob
    bias = f32(
        data.draw, q.shape[:-1] + (k.shape[-2],), st.floats(min_value=-10, max_value=10, width=32)
    )
    shifted = (bias + np.float32(c)).astype(np.float32)
    out = F.scaled_dot_product_attention(q, k, v, mask=mask, bias=bias)
    out_c = F.scaled_dot_product_attention(q, k, v, mask=mask, bias=shifted)
    np.testing.assert_allclose(out_c, out, rtol=1e-4, atol=5e-5)


@SETTINGS
@given(prob=problems(), data=st.data(), alignment=st.sampled_from(["top_left", "bottom_right"]))
def test_item_23_causal_future_independence(arch, prob, data, alignment):
    """Causal: changing k/v at keys after row t's horizon leaves rows <= t (and their dq)
    bitwise unchanged, and gradients from those rows to the future keys are exactly 0."""
    q, k, v, _ = prob
    lq, lk = q.shape[-2], k.shape[-2]
    t = data.draw(st.integers(0, lq - 1))
    horizon = t + (lk - lq if alignment == "bottom_right" else 0)  # last key row t may see
    cut = min(max(horizon + 1, 0), lk)
    k2, v2 = k.copy(), v.copy()
    k2[..., cut:, :] = f32(data.draw, k2[..., cut:, :].shape)
    v2[..., cut:, :] = f32(data.draw, v2[..., cut:, :].shape)
    opts = dict(is_causal=True, causal_alignment=alignment)

    out = F.scaled_dot_product_attention(q, k, v, **opts)
    out2 = F.scaled_dot_product_attention(q, k2, v2, **opts)
    np.testing.assert_array_equal(out2[..., : t + 1, :], out[..., : t + 1, :])

    g = f32(data.draw, out.shape)
    g[..., t + 1 :, :] = 0
    dq, dk, dv = F.scaled_dot_product_attention_backward(g, q, k, v, **opts)
    dq2, dk2, dv2 = F.scaled_dot_product_attention_backward(g, q, k2, v2, **opts)
    assert np.all(dk[..., cut:, :] == 0) and np.all(dk2[..., cut:, :] == 0)
    assert np.all(dv[..., cut:, :] == 0) and np.all(dv2[..., cut:, :] == 0)
    np.testing.assert_array_equal(dq2[..., : t + 1, :], dq[..., : t + 1, :])


@SETTINGS
@given(
    prob=problems(),
    is_causal=st.booleans(),
    a=st.floats(min_value=-10, max_value=10, width=32),
    b=st.floats(min_value=-10, max_value=10, width=32),
)
def test_value_affine_equivariance(arch, prob, is_causal, a, b):
    """attn(q, k, a*v + b) == a*attn(q, k, v) + b (softmax rows sum to 1; no row is empty)."""
    q, k, v, _ = prob
    v2 = (np.float32(a) * v + np.float32(b)).astype(np.float32)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    out2 = F.scaled_dot_product_attention(q, k, v2, is_causal=is_causal)
    want = a * out.astype(np.float64) + b
    atol = 1e-5 * (1 + 3 * abs(a) + abs(b))
    np.testing.assert_allclose(out2, want, rtol=1e-5, atol=atol)


def naive_tol(default, naive, want):
    """max(default, 2 x the error of a naive float32 computation): elements at +-3 with
    scale up to 2 give logits ~150, where float32 rounding alone exceeds 1e-5."""
    err = float(np.max(np.abs(naive.astype(np.float64) - want), initial=0.0))
    return max(default, 2.0 * err)


@st.composite
def oracle_problems(draw):
    """Any option mix, GQA, broadcast mask/bias; Lq or Lk may be 0 (empty B/H are in
    test_attention.py, and drawing them here would waste examples)."""
    b, hkv = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h = hkv * draw(st.integers(1, 2))
    lq, lk = draw(st.integers(0, 9)), draw(st.integers(0, 9))
    d, dv = draw(st.integers(1, 9)), draw(st.integers(1, 5))
    q = f32(draw, (b, h, lq, d))
    k = f32(draw, (b, hkv, lk, d))
    v = f32(draw, (b, hkv, lk, dv))
    mask_shape = draw(st.sampled_from([None, (lq, lk), (b, 1, 1, lk), (1, h, lq, lk)]))
    mask = None if mask_shape is None else draw(arrays(np.bool_, mask_shape))
    bias_shape = draw(st.sampled_from([None, (lq, lk), (h, 1, lk), (b, h, lq, lk)]))
    bias = None if bias_shape is None else f32(draw, bias_shape)
    opts = dict(
        is_causal=draw(st.booleans()),
        causal_alignment=draw(st.sampled_from(["top_left", "bottom_right"])),
    )
    side = st.one_of(st.none(), st.integers(0, 4))
    if draw(st.booleans()):
        opts["window"] = (draw(side), draw(side))
    if draw(st.booleans()):
        opts["scale"] = draw(st.floats(min_value=0.05, max_value=2.0))
    return q, k, v, mask, bias, opts


@SETTINGS
@given(prob=oracle_problems(), data=st.data())
def test_matches_oracle(arch, prob, data):
    """Out, weights and grads match the float64 oracle for random option mixes and shapes."""
    q, k, v, mask, bias, opts = prob
    out, w = F.scaled_dot_product_attention(
        q, k, v, mask=mask, bias=bias, return_weights=True, **opts
    )
    want_out, want_w = ref.attention(q, k, v, mask, bias, return_weights=True, **opts)
    naive_out, naive_w = ref.attention(
        q, k, v, mask, bias, return_weights=True, dtype=np.float32, **opts
    )
    assert out.dtype == np.float32 and out.shape == want_out.shape
    np.testing.assert_allclose(out, want_out, rtol=0, atol=naive_tol(1e-5, naive_out, want_out))
    np.testing.assert_allclose(w, want_w, rtol=0, atol=naive_tol(1e-5, naive_w, want_w))
    structural = {
        key: opts[key] for key in ("is_causal", "causal_alignment", "window") if key in opts
    }
    hidden = ~np.broadcast_to(allowed_keys(q.shape[-2], k.shape[-2], **structural), w.shape)
    assert np.all(w[hidden] == 0)

    g = f32(data.draw, out.shape)
    got = F.scaled_dot_product_attention_backward(g, q, k, v, mask=mask, bias=bias, **opts)
    want = ref.attention_backward(g, q, k, v, mask, bias, **opts)
    naive = ref.attention_backward(g, q, k, v, mask, bias, dtype=np.float32, **opts)
    assert len(got) == len(want)
    for label, a, b_, n in zip(("dq", "dk", "dv", "dbias"), got, want, naive):
        assert a.shape == b_.shape and a.dtype == np.float32, label
        tol = naive_tol(1e-4 * max(1.0, float(np.max(np.abs(b_), initial=0.0))), n, b_)
        np.testing.assert_allclose(a, b_, rtol=0, atol=tol, err_msg=label)
