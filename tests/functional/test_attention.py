"""scaled_dot_product_attention on Tensors (functional/attention.py's autograd path): the
gradients of every option by finite differences, bitwise the raw backward's, and the work
skipped for inputs that need no gradient."""

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import gradcheck

F = al.functional


def qkv(rng, b=2, h=2, hkv=2, lq=5, lk=7, d=4, dv=3):
    return (
        al.tensor(rng.standard_normal(s), requires_grad=True)
        for s in ((b, h, lq, d), (b, hkv, lk, d), (b, hkv, lk, dv))
    )


OPTIONS = {
    "plain": {},
    "causal": dict(is_causal=True),
    "causal_bottom_right": dict(is_causal=True, causal_alignment="bottom_right"),
    "window": dict(window=(2, 1)),
    "window_one_sided": dict(window=(1, None), causal_alignment="bottom_right"),
    "scale": dict(scale=0.3),
    "dropout": dict(dropout_p=0.3, seed=11),
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_gradcheck_every_option(rng, name):
    q, k, v = qkv(rng)
    assert gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, **OPTIONS[name]), (q, k, v)
    )


def test_gradcheck_mask_bias_alibi_and_grouped_heads(rng):
    q, k, v = qkv(rng, h=4, hkv=2)
    mask = rng.random((5, 7)) > 0.3
    bias = al.tensor(rng.standard_normal((1, 4, 5, 7)), requires_grad=True)
    slopes = F.alibi_slopes(4)
    assert gradcheck(
        lambda a, b, c, d: F.scaled_dot_product_attention(a, b, c, mask, d), (q, k, v, bias)
    )
    assert gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(
            a, b, c, alibi_slopes=slopes, is_causal=True
        ),
        (q, k, v),
    )
    mask_tensor = al.tensor(mask)
    assert gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask=mask_tensor), (q, k, v)
    )


def test_three_and_two_dimensional_layouts(rng):
    for shape in ((3, 5, 4), (5, 4)):
        q, k, v = (al.tensor(rng.standard_normal(shape), requires_grad=True) for _ in range(3))
        assert gradcheck(
            lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True), (q, k, v)
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_path_equals_the_raw_kernels_bitwise(rng, dtype):
    arrays = [
        rng.standard_normal(s).astype(dtype) for s in ((2, 4, 9, 8), (2, 2, 11, 8), (2, 2, 11, 8))
    ]
    bias = rng.standard_normal((4, 9, 11)).astype(dtype)
    g = rng.standard_normal((2, 4, 9, 8)).astype(dtype)
    opts = dict(is_causal=True, causal_alignment="bottom_right", dropout_p=0.2, seed=3)
    want_out = F.scaled_dot_product_attention(*arrays, bias=bias, **opts)
    want = F.scaled_dot_product_attention_backward(g, *arrays, bias=bias, **opts)
    q, k, v = (al.tensor(a, requires_grad=True) for a in arrays)
    b = al.tensor(bias, requires_grad=True)
    out = F.scaled_dot_product_attention(q, k, v, bias=b, **opts)
    out.backward(g)
    np.testing.assert_array_equal(out.data, want_out)
    for got, exp in zip((q.grad, k.grad, v.grad, b.grad), want):
        np.testing.assert_array_equal(got, exp)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("heads,kv_heads,d", [(4, 4, 8), (4, 2, 5), (3, 1, 17)])
def test_packed_self_attention_equals_the_raw_kernels_on_its_slices_bitwise(
    rng, dtype, heads, kv_heads, d
):
    """MultiheadAttention's self-attention path: q, k, v cut from one (B, L, (H + 2 Hkv) D)
    projection; its gradient is dq, dk, dv written back into those column blocks."""
    from attnlab.functional.attention import packed_heads, packed_self_attention

    b, length = 2, 11
    packed = rng.standard_normal((b, length, (heads + 2 * kv_heads) * d)).astype(dtype)
    bias = rng.standard_normal((heads, length, length)).astype(dtype)
    g = rng.standard_normal((b, heads, length, d)).astype(dtype)
    q, k, v = packed_heads(packed, heads, kv_heads)
    assert q.shape == (b, heads, length, d) and v.shape == (b, kv_heads, length, d)
    np.testing.assert_array_equal(q[1, 2, 3], packed[1, 3, 2 * d : 3 * d])
    np.testing.assert_array_equal(v[1, kv_heads - 1, 4], packed[1, 4, -d:])
    opts = dict(is_causal=True, dropout_p=0.2)
    qkv = al.tensor(packed, requires_grad=True)
    tb = al.tensor(bias, requires_grad=True)
    out, weights, seen_v = packed_self_attention(
        qkv, heads, kv_heads, None, tb, return_weights=True, **opts
    )
    seed = out._ctx.call.options.seed  # the one it drew
    want_out, want_weights = F.scaled_dot_product_attention(
        q, k, v, bias=bias, seed=seed, return_weights=True, **opts
    )
    np.testing.assert_array_equal(out.data, want_out)
    np.testing.assert_array_equal(weights.data, want_weights)
    np.testing.assert_array_equal(seen_v, v)
    out.backward(g)
    dq, dk, dv, dbias = F.scaled_dot_product_attention_backward(
        g, q, k, v, bias=bias, seed=seed, **opts
    )
    want = np.zeros_like(packed)
    for block, grad in zip(packed_heads(want, heads, kv_heads), (dq, dk, dv)):
        block[...] = grad
    np.testing.assert_array_equal(qkv.grad, want)
    np.testing.assert_array_equal(tb.grad, dbias)


def test_weights_and_stats_come_back_without_grad(rng):
    q, k, v = qkv(rng)
    out, w, stats = F.scaled_dot_product_attention(
        q, k, v, is_causal=True, return_weights=True, return_stats=True
    )
    assert isinstance(w, al.Tensor) and not w.requires_grad and w.shape == (2, 2, 5, 7)
    ref_out, ref_w = F.scaled_dot_product_attention(
        q.data, k.data, v.data, is_causal=True, return_weights=True
    )
    np.testing.assert_array_equal(w.data, ref_w)
    np.testing.assert_array_equal(out.data, ref_out)
    assert isinstance(stats, F.AttentionStats) and stats.row_inv.shape == (2, 2, 5)


def test_frozen_inputs_get_no_gradient_and_no_dense_dbias(rng, monkeypatch):
    from attnlab.functional import attention

    q = al.tensor(rng.standard_normal((1, 2, 4, 3)), requires_grad=True)
    k, v = (al.tensor(rng.standard_normal((1, 2, 4, 3))) for _ in range(2))
    bias = al.tensor(rng.standard_normal((2, 4, 4)))  # frozen
    asked = []
    real = attention._backward
    monkeypatch.setattr(
        attention,
        "_backward",
        lambda c, g4, saved, want: asked.append(want) or real(c, g4, saved, want),
    )
    F.scaled_dot_product_attention(q, k, v, bias=bias).sum().backward()
    assert asked == [False]
    assert q.grad is not None and k.grad is None and v.grad is None and bias.grad is None


def test_dropout_without_seed_draws_one_the_backward_reuses(rng):
    from attnlab._random import next_seed

    q, k, v = qkv(rng)
    g = rng.standard_normal((2, 2, 5, 3))
    al.manual_seed(5)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    out.backward(g)
    al.manual_seed(5)
    seed = next_seed()
    want = F.scaled_dot_product_attention(q.data, k.data, v.data, dropout_p=0.4, seed=seed)
    grads = F.scaled_dot_product_attention_backward(
        g, q.data, k.data, v.data, dropout_p=0.4, seed=seed
    )
    np.testing.assert_array_equal(out.data, want)
    for got, exp in zip((q.grad, k.grad, v.grad), grads):
        np.testing.assert_array_equal(got, exp)
