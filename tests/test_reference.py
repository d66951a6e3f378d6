"""The float64 oracle (tests/reference.py) checked against PyTorch and finite differences.

Everything else in the suite trusts reference.py, so it is checked here independently:
forward and autograd gradients against torch.nn.functional.scaled_dot_product_attention,
its analytic backward against central differences, and its masking rules against
hand-written matrices.
"""

import numpy as np
import pytest

from reference import (
    allowed_keys,
    attention,
    attention_backward,
    numeric_grad,
    reduce_to_shape,
)

# ---------------------------------------------------------------------------------------------
# helpers


def _tril_window(lq, lk, *, is_causal=False, causal_alignment="top_left", window=None):
    """Allowed-key matrix built with np.tril/np.triu diagonals, independently of allowed_keys."""
    off = lk - lq if causal_alignment == "bottom_right" else 0
    ones = np.ones((lq, lk), dtype=bool)
    allowed = ones.copy()
    if is_causal:
        allowed &= np.tril(ones, k=off)
    if window is not None:
        left, right = window
        if left is not None:
            allowed &= np.triu(ones, k=off - left)
        if right is not None:
            allowed &= np.tril(ones, k=off + right)
    return allowed


def _make(rng, case):
    """Inputs for a case dict: q, k, v, grad_out, and optional mask / bias (all float64)."""
    q = rng.standard_normal(case["q"])
    k = rng.standard_normal(case["k"])
    v = rng.standard_normal(case["v"])
    out_shape = case["q"][:-1] + (case["v"][-1],)
    g = rng.standard_normal(out_shape)
    mask = bias = None
    lq, lk = case["q"][-2], case["k"][-2]
    if "mask" in case:
        mask = rng.random(case["mask"]) < 0.7
        # keep every row attendable (torch gives NaN for fully masked rows)
        mask[..., :, 0] = True
    if "bias" in case:
        bias = rng.standard_normal(case["bias"])
    assert lq > 0 and lk > 0
    return q, k, v, g, mask, bias


def _opts(case):
    return {
        key: case[key]
        for key in ("is_causal", "causal_alignment", "window", "scale")
        if key in case
    }


def _torch_attention(torch, q, k, v, mask, bias, opts, grad_out=None):
    """PyTorch float64 SDPA with the same semantics; returns out (and grads if grad_out)."""
    lq, lk = q.shape[-2], k.shape[-2]
    is_causal = opts.get("is_causal", False)
    alignment = opts.get("causal_alignment", "top_left")
    window = opts.get("window")
    tq, tk, tv = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (q, k, v))
    tb = None if bias is None else torch.tensor(bias, dtype=torch.float64, requires_grad=True)
    kwargs = dict(scale=opts.get("scale"))
    if q.ndim == 4 and k.shape[1] != q.shape[1]:
        kwargs["enable_gqa"] = True

    if mask is None and bias is None and window is None and is_causal and alignment == "top_left":
        attn_mask, kwargs["is_causal"] = None, True
    elif mask is None and bias is None and window is None and is_causal:
        from torch.nn.attention.bias import causal_lower_right

        attn_mask = causal_lower_right(lq, lk)
    else:
        allowed = _tril_window(
            lq, lk, is_causal=is_causal, causal_alignment=alignment, window=window
        )
        if mask is not None:
            allowed = allowed & mask
        t_allowed = torch.tensor(np.ascontiguousarray(allowed))
        if tb is None:
            attn_mask = t_allowed
        else:
            attn_mask = torch.where(t_allowed, tb, torch.tensor(-torch.inf, dtype=torch.float64))
    out = torch.nn.functional.scaled_dot_product_attention(
        tq, tk, tv, attn_mask=attn_mask, **kwargs
    )
    if grad_out is None:
        return out.detach().numpy()
    out.backward(torch.tensor(grad_out))
    grads = [tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()]
    if tb is not None:
        grads.append(tb.grad.numpy())
    return out.detach().numpy(), grads


CASES = {
    "2d": dict(q=(5, 8), k=(7, 8), v=(7, 3)),
    "3d": dict(q=(2, 5, 8), k=(2, 7, 8), v=(2, 7, 3)),
    "4d": dict(q=(2, 3, 5, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 4)),
    "4d_long": dict(q=(1, 2, 33, 17), k=(1, 2, 65, 17), v=(1, 2, 65, 9)),
    "mask_full": dict(q=(2, 3, 5, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 4), mask=(2, 3, 5, 6)),
    "mask_key_padding": dict(q=(2, 3, 5, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 4), mask=(2, 1, 1, 6)),
    "mask_2d_on_3d": dict(q=(2, 5, 8), k=(2, 7, 8), v=(2, 7, 3), mask=(5, 7)),
    "bias_full": dict(q=(2, 3, 5, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 4), bias=(2, 3, 5, 6)),
    "bias_heads": dict(q=(2, 3, 5, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 4), bias=(1, 3, 5, 6)),
    "bias_2d": dict(q=(2, 3, 5, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 4), bias=(5, 6)),
    "mask_bias": dict(
        q=(2, 3, 5, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 4), mask=(2, 1, 5, 6), bias=(1, 3, 5, 6)
    ),
    "causal_square": dict(q=(2, 2, 6, 8), k=(2, 2, 6, 8), v=(2, 2, 6, 4), is_causal=True),
    "causal_top_left_wide": dict(q=(2, 2, 4, 8), k=(2, 2, 7, 8), v=(2, 2, 7, 4), is_causal=True),
    "causal_bottom_right_wide": dict(
        q=(2, 2, 4, 8),
        k=(2, 2, 7, 8),
        v=(2, 2, 7, 4),
        is_causal=True,
        causal_alignment="bottom_right",
    ),
    "causal_bottom_right_mask": dict(
        q=(2, 2, 4, 8),
        k=(2, 2, 7, 8),
        v=(2, 2, 7, 4),
        is_causal=True,
        causal_alignment="bottom_right",
        mask=(2, 1, 1, 7),
    ),
    "window": dict(q=(1, 2, 9, 8), k=(1, 2, 9, 8), v=(1, 2, 9, 4), window=(2, 1)),
    "window_left_open": dict(q=(1, 2, 9, 8), k=(1, 2, 9, 8), v=(1, 2, 9, 4), window=(None, 3)),
    "window_bottom_right": dict(
        q=(1, 2, 4, 8),
        k=(1, 2, 9, 8),
        v=(1, 2, 9, 4),
        window=(2, None),
        causal_alignment="bottom_right",
    ),
    "scale": dict(q=(2, 3, 5, 8), k=(2, 3, 6, 8), v=(2, 3, 6, 4), scale=0.3),
    "gqa": dict(q=(2, 4, 5, 8), k=(2, 2, 6, 8), v=(2, 2, 6, 4)),
    "mqa_bias": dict(q=(2, 4, 5, 8), k=(2, 1, 6, 8), v=(2, 1, 6, 4), bias=(1, 4, 5, 6)),
    "everything": dict(
        q=(2, 4, 5, 8),
        k=(2, 2, 8, 8),
        v=(2, 2, 8, 3),
        mask=(2, 1, 5, 8),
        bias=(4, 5, 8),
        is_causal=True,
        causal_alignment="bottom_right",
        window=(3, 0),
        scale=0.7,
    ),
}


# ---------------------------------------------------------------------------------------------
# masking rules


def test_allowed_keys_hand_written():
    """Causal (both alignments) and window rules match hand-written matrices."""
    expected = {
        (3, 5, True, "top_left", None): ["10000", "11000", "11100"],
        (3, 5, True, "bottom_right", None): ["11100", "11110", "11111"],
        (5, 3, True, "bottom_right", None): ["000", "000", "100", "110", "111"],
        (5, 3, True, "top_left", None): ["100", "110", "111", "111", "111"],
        (4, 4, False, "top_left", (1, 0)): ["1000", "1100", "0110", "0011"],
        (3, 3, False, "top_left", (None, 1)): ["110", "111", "111"],
        (2, 4, False, "bottom_right", (1, None)): ["0111", "0011"],
        (4, 4, True, "top_left", (2, None)): ["1000", "1100", "1110", "0111"],
        (2, 5, False, "top_left", (0, 0)): ["10000", "01000"],
        (2, 5, True, "bottom_right", (0, 2)): ["00010", "00001"],
    }
    for (lq, lk, causal, align, window), rows in expected.items():
        want = np.array([[c == "1" for c in row] for row in rows], dtype=bool)
        got = allowed_keys(lq, lk, is_causal=causal, causal_alignment=align, window=window)
        np.testing.assert_array_equal(got, want, err_msg=str((lq, lk, causal, align, window)))


@pytest.mark.parametrize("lq,lk", [(1, 1), (4, 7), (7, 4), (6, 6), (1, 9), (9, 1)])
@pytest.mark.parametrize("window", [None, (0, 0), (2, 1), (None, 3), (2, None), (0, None)])
@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("align", ["top_left", "bottom_right"])
def test_allowed_keys_matches_tril_formulation(lq, lk, window, is_causal, align):
    """The index-arithmetic rule equals an independent tril/triu-diagonal construction."""
    got = allowed_keys(lq, lk, is_causal=is_causal, causal_alignment=align, window=window)
    want = _tril_window(lq, lk, is_causal=is_causal, causal_alignment=align, window=window)
    np.testing.assert_array_equal(got, want)


@pytest.mark.torch
@pytest.mark.parametrize("lq,lk", [(3, 5), (5, 5), (1, 8), (4, 9)])
def test_bottom_right_matches_torch_causal_lower_right(torch, lq, lk):
    """bottom_right causal equals PyTorch's causal_lower_right (FlashAttention convention)."""
    from torch.nn.attention.bias import causal_lower_right

    want = causal_lower_right(lq, lk)._materialize().numpy()
    got = allowed_keys(lq, lk, is_causal=True, causal_alignment="bottom_right")
    np.testing.assert_array_equal(got, want)


def test_allowed_keys_rejects_unknown_alignment():
    """A misspelled alignment is an error, not silently top_left."""
    with pytest.raises(ValueError):
        allowed_keys(2, 2, is_causal=True, causal_alignment="bottom-right")


def test_reduce_to_shape_is_adjoint_of_broadcast(rng):
    """<broadcast(x), y> == <x, reduce(y)> for the bias shapes the suite uses."""
    full = (2, 3, 5, 6)
    for shape in [(2, 3, 5, 6), (1, 3, 5, 6), (2, 1, 1, 6), (5, 6), (6,), (3, 1, 6), (1, 1, 1, 1)]:
        x = rng.standard_normal(shape)
        y = rng.standard_normal(full)
        lhs = np.sum(np.broadcast_to(x, full) * y)
        rhs = np.sum(x * reduce_to_shape(y, shape))
        assert reduce_to_shape(y, shape).shape == shape
        np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# against PyTorch


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_torch(torch, rng, name):
    """Oracle forward equals torch SDPA (float64) for every option it shares with torch."""
    case = CASES[name]
    q, k, v, _, mask, bias = _make(rng, case)
    opts = _opts(case)
    want = _torch_attention(torch, q, k, v, mask, bias, opts)
    got = attention(q, k, v, mask, bias, **opts)
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_matches_torch_autograd(torch, rng, name):
    """Oracle analytic gradients (dq, dk, dv, dbias) equal torch autograd through SDPA."""
    case = CASES[name]
    q, k, v, g, mask, bias = _make(rng, case)
    opts = _opts(case)
    _, want = _torch_attention(torch, q, k, v, mask, bias, opts, grad_out=g)
    got = attention_backward(g, q, k, v, mask, bias, **opts)
    assert len(got) == len(want) == (3 if bias is None else 4)
    for label, a, b in zip(("dq", "dk", "dv", "dbias"), got, want):
        assert a.shape == b.shape, label
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-11, err_msg=label)


@pytest.mark.torch
@pytest.mark.parametrize(
    "name", ["4d", "mask_bias", "causal_bottom_right_wide", "gqa", "everything"]
)
def test_weights_match_torch_softmax(torch, rng, name):
    """Returned weights equal softmax(scale*qk^T + bias) with masked entries at -inf (torch)."""
    case = CASES[name]
    q, k, v, _, mask, bias = _make(rng, case)
    opts = _opts(case)
    lq, lk, d = q.shape[-2], k.shape[-2], q.shape[-1]
    kt = torch.tensor(k)
    if q.ndim == 4 and k.shape[1] != q.shape[1]:
        kt = kt.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
    scale = opts.get("scale", 1.0 / np.sqrt(d))
    scores = torch.tensor(q) @ kt.transpose(-1, -2) * scale
    if bias is not None:
        scores = scores + torch.tensor(bias)
    allowed = _tril_window(
        lq,
        lk,
        is_causal=opts.get("is_causal", False),
        causal_alignment=opts.get("causal_alignment", "top_left"),
        window=opts.get("window"),
    )
    if mask is not None:
        allowed = allowed & mask
    scores = scores.masked_fill(~torch.tensor(np.ascontiguousarray(allowed)), -torch.inf)
    want = torch.softmax(scores, dim=-1).numpy()
    _, got = attention(q, k, v, mask, bias, return_weights=True, **opts)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# backward against finite differences


FD_CASES = {
    "plain": dict(q=(2, 3, 4), k=(2, 5, 4), v=(2, 5, 3)),
    "mask_bias_broadcast": dict(
        q=(1, 2, 3, 4), k=(1, 2, 5, 4), v=(1, 2, 5, 2), mask=(1, 1, 3, 5), bias=(1, 2, 1, 5)
    ),
    "bias_2d": dict(q=(2, 2, 3, 4), k=(2, 2, 4, 4), v=(2, 2, 4, 2), bias=(3, 4)),
    "causal_bottom_right_window": dict(
        q=(1, 2, 3, 4),
        k=(1, 2, 6, 4),
        v=(1, 2, 6, 3),
        is_causal=True,
        causal_alignment="bottom_right",
        window=(2, None),
        scale=0.9,
    ),
    "gqa": dict(q=(1, 4, 3, 4), k=(1, 2, 4, 4), v=(1, 2, 4, 3), bias=(4, 3, 4)),
    # bottom_right with Lq > Lk: the first rows see no key at all
    "fully_masked_rows": dict(
        q=(1, 1, 6, 3),
        k=(1, 1, 3, 3),
        v=(1, 1, 3, 2),
        is_causal=True,
        causal_alignment="bottom_right",
        bias=(6, 3),
    ),
}


def _fd_check(fn_of, x, analytic, label):
    num = numeric_grad(fn_of, x, eps=1e-6)
    np.testing.assert_allclose(analytic, num, rtol=1e-3, atol=1e-5, err_msg=label)


@pytest.mark.parametrize("name", sorted(FD_CASES))
@pytest.mark.parametrize("dropout", [False, True])
def test_backward_matches_finite_differences(rng, name, dropout):
    """Analytic dq, dk, dv, dbias equal central differences of sum(g * out), with a fixed
    dropout keep-mask when dropout is on."""
    case = FD_CASES[name]
    q, k, v, g, mask, bias = _make(rng, case)
    opts = _opts(case)
    if dropout:
        full = case["q"][:-1] + (case["k"][-2],)
        opts.update(dropout_keep=rng.random(full) >= 0.3, dropout_p=0.3)
    grads = attention_backward(g, q, k, v, mask, bias, **opts)

    _fd_check(lambda x: np.sum(g * attention(x, k, v, mask, bias, **opts)), q, grads[0], "dq")
    _fd_check(lambda x: np.sum(g * attention(q, x, v, mask, bias, **opts)), k, grads[1], "dk")
    _fd_check(lambda x: np.sum(g * attention(q, k, x, mask, bias, **opts)), v, grads[2], "dv")
    if bias is not None:
        assert grads[3].shape == bias.shape
        _fd_check(
            lambda x: np.sum(g * attention(q, k, v, mask, x, **opts)), bias, grads[3], "dbias"
        )


# ---------------------------------------------------------------------------------------------
# semantics torch does not share


def test_fully_masked_rows_are_zero(rng):
    """Rows with no allowed key give exactly 0 in out, weights and every gradient."""
    q, k, v = (rng.standard_normal(s) for s in [(2, 5, 4), (2, 6, 4), (2, 6, 3)])
    bias = rng.standard_normal((2, 5, 6))
    mask = rng.random((2, 5, 6)) < 0.6
    mask[0, 1] = False
    mask[1, 3] = False
    mask[:, [0, 2, 4], 0] = True
    out, w = attention(q, k, v, mask, bias, return_weights=True)
    assert not np.isnan(out).any() and not np.isnan(w).any()
    assert np.all(out[0, 1] == 0) and np.all(out[1, 3] == 0)
    assert np.all(w[0, 1] == 0) and np.all(w[1, 3] == 0)
    # gradient flowing only from the masked rows must be exactly zero everywhere
    g = np.zeros_like(out)
    g[0, 1] = 1.0
    g[1, 3] = -2.0
    for grad in attention_backward(g, q, k, v, mask, bias):
        assert not np.isnan(grad).any()
        assert np.all(grad == 0)


def test_minus_inf_bias_row_is_fully_masked(rng):
    """A row whose bias is -inf everywhere behaves like a fully masked row: zeros, no NaN."""
    q, k, v = (rng.standard_normal(s) for s in [(4, 3), (5, 3), (5, 2)])
    bias = rng.standard_normal((4, 5))
    bias[2] = -np.inf
    out, w = attention(q, k, v, bias=bias, return_weights=True)
    assert np.all(out[2] == 0) and np.all(w[2] == 0)
    assert np.isfinite(out).all() and np.isfinite(w).all()
    np.testing.assert_allclose(w[[0, 1, 3]].sum(-1), 1.0, atol=1e-12)


def test_empty_keys_give_zeros(rng):
    """Lk == 0 is a fully masked row: out (.., Lq, Dv) of zeros, weights (.., Lq, 0)."""
    q = rng.standard_normal((2, 3, 4, 5))
    k = np.zeros((2, 3, 0, 5))
    v = np.zeros((2, 3, 0, 6))
    out, w = attention(q, k, v, return_weights=True)
    assert out.shape == (2, 3, 4, 6) and w.shape == (2, 3, 4, 0)
    assert np.all(out == 0)
    dq, dk, dv = attention_backward(np.ones((2, 3, 4, 6)), q, k, v)
    assert dq.shape == q.shape and np.all(dq == 0)
    assert dk.shape == k.shape and dv.shape == v.shape


@pytest.mark.parametrize("poison", [np.nan, np.inf, -np.inf, 1e300])
def test_nonfinite_masked_keys_and_values_are_ignored(rng, poison):
    """NaN/inf/huge K and V at masked keys leave out, weights and grads exactly unchanged."""
    q, k, v = (rng.standard_normal(s) for s in [(2, 6, 4), (2, 6, 4), (2, 6, 3)])
    g = rng.standard_normal((2, 6, 3))
    mask = np.ones((2, 1, 6), dtype=bool)
    mask[0, 0, 4] = mask[1, 0, 1] = False
    kp, vp = k.copy(), v.copy()
    kp[0, 4], vp[0, 4] = poison, poison
    kp[1, 1, 2], vp[1, 1, 0] = poison, poison
    # causal also masks future keys; poison one of those for the early rows
    opts = dict(is_causal=True)
    clean = attention(q, k, v, mask, return_weights=True, **opts)
    dirty = attention(q, kp, vp, mask, return_weights=True, **opts)
    for a, b in zip(clean, dirty):
        np.testing.assert_array_equal(a, b)
    gc = attention_backward(g, q, k, v, mask, **opts)
    gd = attention_backward(g, q, kp, vp, mask, **opts)
    for a, b in zip(gc, gd):
        assert not np.isnan(b).any()
        np.testing.assert_array_equal(a, b)


def test_nan_in_unmasked_value_stays_in_its_rows(rng):
    """A NaN value at an allowed key poisons exactly the rows that can see it (causal)."""
    q, k, v = (rng.standard_normal(s) for s in [(5, 3), (5, 3), (5, 2)])
    v[3, 1] = np.nan
    out = attention(q, k, v, is_causal=True)
    assert not np.isnan(out[:3]).any()
    assert np.isnan(out[3:, 1]).all()


def test_dropout_keep_semantics(rng):
    """out = (P * keep / (1-p)) @ V; returned weights are the pre-dropout P."""
    q, k, v = (rng.standard_normal(s) for s in [(2, 4, 3), (2, 6, 3), (2, 6, 5)])
    keep = rng.random((2, 4, 6)) >= 0.25
    out, w = attention(q, k, v, dropout_keep=keep, dropout_p=0.25, return_weights=True)
    _, p = attention(q, k, v, return_weights=True)
    np.testing.assert_array_equal(w, p)
    np.testing.assert_allclose(out, (p * keep / 0.75) @ v, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-12)


def test_large_logits_are_finite_and_one_hot(rng):
    """Huge scores (q * 1e8) do not overflow: max subtraction gives the argmax value row."""
    q = rng.standard_normal((4, 8)) * 1e8
    k = rng.standard_normal((6, 8))
    v = rng.standard_normal((6, 3))
    out, w = attention(q, k, v, return_weights=True)
    assert np.isfinite(out).all()
    top = np.argmax(q @ k.T, axis=-1)
    np.testing.assert_array_equal(w, np.eye(6)[top])
    np.testing.assert_array_equal(out, v[top])


def test_shift_invariance_of_bias(rng):
    """Adding a constant to every score of a row does not change the output."""
    q, k, v = (rng.standard_normal(s) for s in [(3, 7, 4), (3, 9, 4), (3, 9, 2)])
    bias = rng.standard_normal((7, 9))
    np.testing.assert_allclose(
        attention(q, k, v, bias=bias + 1e4), attention(q, k, v, bias=bias), rtol=1e-9, atol=1e-10
    )


def test_float32_compute_dtype_is_close(rng):
    """The dtype=float32 mode (used for tolerance estimates) stays near the float64 result."""
    q, k, v = (rng.standard_normal((2, 2, 33, 16)) for _ in range(3))
    g = rng.standard_normal((2, 2, 33, 16))
    mask = rng.random((33, 33)) < 0.8
    out32 = attention(q, k, v, mask, is_causal=True, dtype=np.float32)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, attention(q, k, v, mask, is_causal=True), atol=1e-5)
    for a, b in zip(
        attention_backward(g, q, k, v, mask, dtype=np.float32), attention_backward(g, q, k, v, mask)
    ):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-4)
