"""Fused attention kernel (cpp/src/kernels/attention.hpp) through its public API.

al.functional.scaled_dot_product_attention / _backward against the float64 oracle in
tests/reference.py, PyTorch, and finite differences, on every arch the CPU supports
(the `arch` fixture), for every option alone and combined, and for the reliability
contract: exact zeros for fully masked rows, masked NaN never leaks, strided and
read-only inputs, empty sizes, dropout determinism, thread-count independence.

`from reference import ...` assumes tests/ is on sys.path
(pyproject: [tool.pytest.ini_options] pythonpath = ["tests"]).
"""

import numpy as np
import pytest

import attnlab as al
import reference as ref
from reference import allowed_keys, numeric_grad

F = al.functional

SIZES = [1, 7, 8, 9, 17, 63, 65]
DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["f32", "f64"]


# ---------------------------------------------------------------------------------------------
# helpers


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def make_qkv(rng, dtype, lead, lq, lk, d, dv=None, hkv=None):
    """q (*lead, lq, d), k/v (*lead', lk, d/dv); lead' has hkv heads (GQA) if given."""
    dv = d if dv is None else dv
    kv_lead = tuple(lead)
    if hkv is not None:
        kv_lead = (lead[0], hkv) + tuple(lead[2:])
    q = randn(rng, tuple(lead) + (lq, d), dtype)
    k = randn(rng, kv_lead + (lk, d), dtype)
    v = randn(rng, kv_lead + (lk, dv), dtype)
    return q, k, v


def grad_out_for(rng, q, v):
    return randn(rng, q.shape[:-1] + (v.shape[-1],), q.dtype)


def fwd(q, k, v, mask=None, bias=None, **opts):
    return F.scaled_dot_product_attention(q, k, v, mask=mask, bias=bias, **opts)


def bwd(g, q, k, v, mask=None, bias=None, **opts):
    return F.scaled_dot_product_attention_backward(g, q, k, v, mask=mask, bias=bias, **opts)


def ref_opts(opts):
    """Options the oracle understands (it takes an explicit keep-mask instead of a seed)."""
    return {
        key: val for key, val in opts.items() if key not in ("seed", "dropout_p", "return_weights")
    }


def assert_close(got, want, *, kind, dtype, big=False, naive=None, floor=0.0, label=""):
    """Compare a kernel result with the float64 oracle.

    kind="out" (outputs, weights): absolute tolerance 1e-5 (f32) / 1e-12 (f64).
    kind="grad": 1e-4 (f32) / 1e-12 (f64) times max(1, max|want|).
    big (L >= 1000): f64 tolerance 1e-10. naive: the same computation done naively in
    float32; the f32 tolerance is then at least twice its error (PyTorch's fused tolerances).
    floor: a lower bound on the tolerance, for inputs whose magnitude sets the rounding error.
    """
    got = np.asarray(got)
    assert got.dtype == dtype, f"{label}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert got.shape == want.shape, f"{label}: shape {got.shape}, expected {want.shape}"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{label}: NaN pattern")
    mag = 1.0
    if kind == "grad":
        mag = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    if dtype == np.float32:
        tol = (1e-5 if kind == "out" else 1e-4) * mag
    else:
        tol = (1e-10 if big else 1e-12) * mag
    if naive is not None:
        tol = max(tol, 2.0 * float(np.max(np.abs(naive.astype(np.float64) - want), initial=0.0)))
    tol = max(tol, floor)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=0, atol=tol, err_msg=label)


def check_forward(q, k, v, mask=None, bias=None, *, big=False, naive=None, **opts):
    """Fused output, and output + weights from the weights path, against the oracle.

    naive (default: big) also allows twice the error of a naive float32 computation, for
    cases whose logits are large by construction.
    """
    dtype = q.dtype.type
    want_out, want_w = ref.attention(q, k, v, mask, bias, return_weights=True, **ref_opts(opts))
    naive_out = naive_w = None
    if (big if naive is None else naive) and dtype == np.float32:
        naive_out, naive_w = ref.attention(
            q, k, v, mask, bias, return_weights=True, dtype=np.float32, **ref_opts(opts)
        )
    out = fwd(q, k, v, mask, bias, **opts)
    assert_close(out, want_out, kind="out", dtype=dtype, big=big, naive=naive_out, label="out")
    out_w, w = fwd(q, k, v, mask, bias, return_weights=True, **opts)
    assert_close(
        out_w,
        want_out,
        kind="out",
        dtype=dtype,
        big=big,
        naive=naive_out,
        label="out (return_weights)",
    )
    assert_close(w, want_w, kind="out", dtype=dtype, big=big, naive=naive_w, label="weights")
    return out, w


def check_backward(g, q, k, v, mask=None, bias=None, *, big=False, naive=None, floor=0.0, **opts):
    """dq, dk, dv (and dbias, with bias's own shape) against the oracle's analytic grads."""
    dtype = q.dtype.type
    want = ref.attention_backward(g, q, k, v, mask, bias, **ref_opts(opts))
    use_naive = big if naive is None else naive
    naive = [None] * len(want)
    if use_naive and dtype == np.float32:
        naive = ref.attention_backward(g, q, k, v, mask, bias, dtype=np.float32, **ref_opts(opts))
    got = bwd(g, q, k, v, mask, bias, **opts)
    assert len(got) == (3 if bias is None else 4)
    for label, a, b, n in zip(("dq", "dk", "dv", "dbias"), got, want, naive):
        assert_close(a, b, kind="grad", dtype=dtype, big=big, naive=n, floor=floor, label=label)
    return got


def random_mask(rng, shape, p_true=0.7):
    return rng.random(shape) < p_true


dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)


# ---------------------------------------------------------------------------------------------
# sizes and ranks


@dtypes
@pytest.mark.parametrize("L", SIZES)
@pytest.mark.parametrize("D", SIZES)
def test_forward_sizes(arch, rng, dtype, L, D):
    """Forward matches the oracle for every L, D around SIMD widths and tails."""
    q, k, v = make_qkv(rng, dtype, (2, 2), L, L, D)
    check_forward(q, k, v)


@dtypes
@pytest.mark.parametrize("lq", SIZES)
@pytest.mark.parametrize("lk", SIZES)
def test_forward_query_key_lengths(arch, rng, dtype, lq, lk):
    """Forward matches the oracle for Lq != Lk and Dv != D."""
    q, k, v = make_qkv(rng, dtype, (1, 2), lq, lk, 8, dv=5)
    check_forward(q, k, v)


@dtypes
@pytest.mark.parametrize("L", SIZES)
@pytest.mark.parametrize("D", SIZES)
def test_backward_sizes(arch, rng, dtype, L, D):
    """Backward matches the oracle's analytic grads for every L, D."""
    q, k, v = make_qkv(rng, dtype, (2, 2), L, L, D)
    check_backward(grad_out_for(rng, q, v), q, k, v)


@dtypes
@pytest.mark.parametrize("lq", SIZES)
@pytest.mark.parametrize("lk", SIZES)
def test_backward_query_key_lengths(arch, rng, dtype, lq, lk):
    """Backward matches the oracle for Lq != Lk and Dv != D."""
    q, k, v = make_qkv(rng, dtype, (1, 2), lq, lk, 9, dv=7)
    check_backward(grad_out_for(rng, q, v), q, k, v)


@dtypes
@pytest.mark.parametrize("lead", [(), (3,), (2, 3)], ids=["LD", "BLD", "BHLD"])
def test_input_ranks(arch, rng, dtype, lead):
    """(L, D), (B, L, D) and (B, H, L, D) inputs: shapes, dtypes and values match the oracle."""
    q, k, v = make_qkv(rng, dtype, lead, 9, 17, 8, dv=7)
    mask = random_mask(rng, (9, 17))
    bias = randn(rng, (9, 17), dtype)
    out, w = check_forward(q, k, v, mask, bias)
    assert out.shape == lead + (9, 7) and w.shape == lead + (9, 17)
    check_backward(grad_out_for(rng, q, v), q, k, v, mask, bias)


BIG_FORWARD = [
    # (dtype, lead, lq, lk, d, dv, opts)
    (np.float32, (1, 1), 1023, 1023, 16, 16, {}),
    (np.float32, (1, 2), 1025, 1025, 8, 8, dict(is_causal=True)),
    (np.float64, (1, 1), 1025, 1023, 9, 9, {}),
    (np.float32, (1, 1), 9, 17, 1023, 1025, {}),
    (np.float64, (1, 1), 7, 9, 1025, 1023, {}),
    (np.float32, (1, 1), 1, 1025, 65, 65, {}),
]


def _big_id(case):
    return f"{np.dtype(case[0])}-{case[2]}x{case[3]}x{case[4]}"


@pytest.mark.parametrize("case", BIG_FORWARD, ids=_big_id)
def test_forward_large(arch, rng, case):
    """Forward with L or D of 1023/1025 matches the oracle (1e-10 for f64)."""
    dtype, lead, lq, lk, d, dv, opts = case
    q, k, v = make_qkv(rng, dtype, lead, lq, lk, d, dv=dv)
    check_forward(q, k, v, big=True, **opts)


BIG_BACKWARD = [
    (np.float32, (1, 1), 1023, 1023, 16, 16, {}),
    (np.float64, (1, 1), 1025, 1025, 8, 8, dict(is_causal=True)),
    (np.float32, (1, 1), 9, 17, 1025, 1023, {}),
    (np.float64, (1, 1), 17, 9, 1023, 1025, {}),
]


@pytest.mark.parametrize("case", BIG_BACKWARD, ids=_big_id)
def test_backward_large(arch, rng, case):
    """Backward with L or D of 1023/1025 matches the oracle."""
    dtype, lead, lq, lk, d, dv, opts = case
    q, k, v = make_qkv(rng, dtype, lead, lq, lk, d, dv=dv)
    check_backward(grad_out_for(rng, q, v), q, k, v, big=True, **opts)


# ---------------------------------------------------------------------------------------------
# options, one at a time


MASK_SHAPES = {"LqLk": (9, 17), "B11Lk": (2, 1, 1, 17), "1HLqLk": (1, 3, 9, 17)}


@dtypes
@pytest.mark.parametrize("kind", sorted(MASK_SHAPES))
def test_item_04_mask_broadcast_equals_expanded(arch, rng, dtype, kind):
    """A broadcast mask gives bitwise the same out, weights and grads as the expanded mask."""
    q, k, v = make_qkv(rng, dtype, (2, 3), 9, 17, 8)
    g = grad_out_for(rng, q, v)
    mask = random_mask(rng, MASK_SHAPES[kind])
    full = np.ascontiguousarray(np.broadcast_to(mask, (2, 3, 9, 17)))
    check_forward(q, k, v, mask)
    check_backward(g, q, k, v, mask)
    pairs = zip(fwd(q, k, v, mask, return_weights=True), fwd(q, k, v, full, return_weights=True))
    for a, b in pairs:
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fwd(q, k, v, mask), fwd(q, k, v, full))
    for a, b in zip(bwd(g, q, k, v, mask), bwd(g, q, k, v, full)):
        np.testing.assert_array_equal(a, b)


@dtypes
@pytest.mark.parametrize("lq,lk", [(1, 1), (7, 9), (17, 8), (63, 65)])
@pytest.mark.parametrize("density", [0.1, 0.5, 0.9])
def test_mask_random(arch, rng, dtype, lq, lk, density):
    """Random full masks (sparse ones leave some rows fully masked) match the oracle."""
    q, k, v = make_qkv(rng, dtype, (2, 2), lq, lk, 9)
    mask = random_mask(rng, (2, 2, lq, lk), density)
    check_forward(q, k, v, mask)
    check_backward(grad_out_for(rng, q, v), q, k, v, mask)


BIAS_SHAPES = [
    (7, 9),
    (9,),
    (1, 3, 7, 9),
    (2, 1, 7, 9),
    (2, 3, 7, 9),
    (3, 1, 9),
    (2, 1, 1, 9),
    (1, 1, 1, 1),
]


@dtypes
@pytest.mark.parametrize("shape", BIAS_SHAPES, ids=str)
def test_bias_broadcast(arch, rng, dtype, shape):
    """Additive bias of any broadcastable shape: forward and dq/dk/dv/dbias match; dbias has
    the bias's own shape (summed over broadcast axes)."""
    q, k, v = make_qkv(rng, dtype, (2, 3), 7, 9, 8)
    bias = randn(rng, shape, dtype) * 2
    check_forward(q, k, v, bias=bias)
    grads = check_backward(grad_out_for(rng, q, v), q, k, v, bias=bias)
    assert grads[3].shape == shape


CAUSAL_LENGTHS = [(1, 1), (7, 7), (7, 17), (17, 7), (1, 65), (65, 1), (8, 9), (9, 8)]


@dtypes
@pytest.mark.parametrize("alignment", ["top_left", "bottom_right"])
@pytest.mark.parametrize("lq,lk", CAUSAL_LENGTHS)
def test_item_22_causal(arch, rng, dtype, alignment, lq, lk):
    """is_causal with both alignments and Lq <, =, > Lk: matches the oracle and weights are
    exactly 0 on future keys."""
    q, k, v = make_qkv(rng, dtype, (2, 2), lq, lk, 8)
    opts = dict(is_causal=True, causal_alignment=alignment)
    _, w = check_forward(q, k, v, **opts)
    check_backward(grad_out_for(rng, q, v), q, k, v, **opts)
    future = ~allowed_keys(lq, lk, **opts)
    assert np.all(w[..., future] == 0)


WINDOWS = [(0, 0), (1, 1), (3, 2), (None, 3), (2, None), (None, None), (0, None), (4, 0)]


@dtypes
@pytest.mark.parametrize("window", WINDOWS, ids=str)
@pytest.mark.parametrize("alignment", ["top_left", "bottom_right"])
@pytest.mark.parametrize("is_causal", [False, True], ids=["window", "window+causal"])
@pytest.mark.parametrize("lq,lk", [(9, 9), (7, 17), (17, 7)])
def test_window(arch, rng, dtype, window, alignment, is_causal, lq, lk):
    """Sliding windows (left, right) with None = unbounded, aligned like causal, alone and
    intersected with causal: out, weights and grads match the oracle."""
    q, k, v = make_qkv(rng, dtype, (1, 2), lq, lk, 8)
    opts = dict(window=window, causal_alignment=alignment, is_causal=is_causal)
    _, w = check_forward(q, k, v, **opts)
    check_backward(grad_out_for(rng, q, v), q, k, v, **opts)
    outside = ~allowed_keys(lq, lk, **opts)
    assert np.all(w[..., outside] == 0)


@dtypes
@pytest.mark.parametrize("scale", [0.05, 0.5, 1.0, 4.0, 0.0, -0.7])
def test_item_24_scale(arch, rng, dtype, scale):
    """Explicit scale (including 0 and negative) replaces 1/sqrt(D) and matches the oracle
    (f32 tolerance widened to the naive-f32 error when |scale| > 1 makes logits large)."""
    q, k, v = make_qkv(rng, dtype, (2, 2), 9, 17, 8)
    check_forward(q, k, v, scale=scale, naive=abs(scale) > 1)
    check_backward(grad_out_for(rng, q, v), q, k, v, scale=scale, naive=abs(scale) > 1)


@dtypes
def test_item_21_bias_shift_of_1e4_leaves_the_output_unchanged(arch, rng, dtype):
    """softmax(s + c) = softmax(s) for c = +-1e4 added to the whole bias: float64 to 1e-10 (the
    scores, 1e4 in size, round by 1e4 x eps before the maximum is subtracted); float32, whose
    shift itself rounds the bias by up to 5e-4, equals the oracle run on the shifted bias to
    twice the naive float32 error."""
    q, k, v = make_qkv(rng, dtype, (2, 2), 9, 17, 8)
    bias = randn(rng, (9, 17), dtype)
    out = fwd(q, k, v, bias=bias)
    for c in (-1e4, 1e4):
        shifted = (bias + dtype(c)).astype(dtype)
        if dtype == np.float64:
            np.testing.assert_allclose(fwd(q, k, v, bias=shifted), out, rtol=0, atol=1e-10)
        else:
            check_forward(q, k, v, bias=shifted, naive=True)


@dtypes
def test_default_scale_is_inverse_sqrt_d(arch, rng, dtype):
    """scale=None equals scale=1/sqrt(D)."""
    q, k, v = make_qkv(rng, dtype, (2, 2), 9, 9, 17)
    np.testing.assert_allclose(
        fwd(q, k, v),
        fwd(q, k, v, scale=1 / np.sqrt(17)),
        rtol=0,
        atol=1e-6 if dtype == np.float32 else 1e-14,
    )


@dtypes
@pytest.mark.parametrize("hkv", [1, 2])
def test_gqa(arch, rng, dtype, hkv):
    """Grouped-query heads (H=4, Hkv=2 or 1): match the oracle and the kernel run on
    explicitly repeated k/v, whose dk/dv summed over each group give the GQA dk/dv."""
    q, k, v = make_qkv(rng, dtype, (2, 4), 9, 17, 8, dv=7, hkv=hkv)
    g = grad_out_for(rng, q, v)
    out, w = check_forward(q, k, v)
    assert out.shape == (2, 4, 9, 7) and w.shape == (2, 4, 9, 17)
    dq, dk, dv = check_backward(g, q, k, v)
    assert dk.shape == k.shape and dv.shape == v.shape
    group = 4 // hkv
    kr, vr = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    atol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fwd(q, kr, vr), out, rtol=0, atol=atol)
    dq_r, dk_r, dv_r = bwd(g, q, kr, vr)
    np.testing.assert_allclose(dq_r, dq, rtol=0, atol=10 * atol)
    dk_sum = dk_r.reshape(2, hkv, group, 17, 8).sum(2)
    dv_sum = dv_r.reshape(2, hkv, group, 17, 7).sum(2)
    np.testing.assert_allclose(dk_sum, dk, rtol=0, atol=10 * atol)
    np.testing.assert_allclose(dv_sum, dv, rtol=0, atol=10 * atol)


@dtypes
@pytest.mark.parametrize("lq,lk", [(1, 1), (9, 17), (65, 63)])
def test_return_weights(arch, rng, dtype, lq, lk):
    """return_weights gives (out, weights (..., Lq, Lk)) in the input dtype, rows summing to 1,
    and the same out as the fused path."""
    q, k, v = make_qkv(rng, dtype, (2, 3), lq, lk, 8)
    res = fwd(q, k, v, return_weights=True)
    assert isinstance(res, tuple) and len(res) == 2
    out, w = res
    assert w.shape == (2, 3, lq, lk) and w.dtype == dtype
    assert np.all(w >= 0)
    row_tol = 1e-12 if dtype == np.float64 else max(1e-6, lk * 1.2e-7)
    np.testing.assert_allclose(w.sum(-1, dtype=np.float64), 1.0, rtol=0, atol=row_tol)
    atol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(out, fwd(q, k, v), rtol=0, atol=atol)
    check_forward(q, k, v)


# ---------------------------------------------------------------------------------------------
# options combined


COMBINED = {
    "mask+bias": dict(mask=(2, 1, 9, 17), bias=(1, 4, 9, 17)),
    "mask+causal_tl": dict(mask=(9, 17), is_causal=True),
    "bias+causal_br": dict(bias=(9, 17), is_causal=True, causal_alignment="bottom_right"),
    "window+mask+bias": dict(mask=(2, 1, 1, 17), bias=(4, 1, 17), window=(3, 2)),
    "causal_br+window+scale": dict(
        is_causal=True, causal_alignment="bottom_right", window=(4, None), scale=0.3
    ),
    "gqa+mask+bias+causal": dict(hkv=2, mask=(2, 1, 9, 17), bias=(1, 4, 9, 17), is_causal=True),
    "everything": dict(
        hkv=1,
        mask=(2, 1, 9, 17),
        bias=(4, 9, 17),
        is_causal=True,
        causal_alignment="bottom_right",
        window=(5, 0),
        scale=0.6,
    ),
    "everything_lq_gt_lk": dict(
        hkv=2,
        lq=17,
        lk=9,
        mask=(17, 9),
        bias=(2, 4, 17, 9),
        is_causal=True,
        causal_alignment="bottom_right",
        window=(2, 1),
        scale=1.5,
    ),
}


@dtypes
@pytest.mark.parametrize("name", sorted(COMBINED))
def test_item_06_options_combined(arch, rng, dtype, name):
    """mask, bias, causal, window, scale and GQA intersect/compose exactly like the oracle,
    forward (with weights) and backward."""
    case = dict(COMBINED[name])
    lq, lk = case.pop("lq", 9), case.pop("lk", 17)
    q, k, v = make_qkv(rng, dtype, (2, 4), lq, lk, 8, dv=6, hkv=case.pop("hkv", None))
    mask = random_mask(rng, case.pop("mask")) if "mask" in case else None
    bias = randn(rng, case.pop("bias"), dtype) if "bias" in case else None
    check_forward(q, k, v, mask, bias, **case)
    check_backward(grad_out_for(rng, q, v), q, k, v, mask, bias, **case)


# ---------------------------------------------------------------------------------------------
# against PyTorch


TORCH_CASES = {
    "plain_3d": dict(lead=(3,)),
    "plain_4d": dict(lead=(2, 3)),
    "bool_mask": dict(lead=(2, 3), mask=(2, 1, 9, 17)),
    "bias": dict(lead=(2, 3), bias=(1, 3, 9, 17)),
    "mask+bias": dict(lead=(2, 3), mask=(9, 17), bias=(2, 3, 9, 17)),
    "causal": dict(lead=(2, 3), lk=9, is_causal=True),
    "causal_bottom_right": dict(lead=(2, 3), is_causal=True, causal_alignment="bottom_right"),
    "scale": dict(lead=(2, 3), scale=0.25),
    "gqa": dict(lead=(2, 4), hkv=2),
    "mqa+bias": dict(lead=(2, 4), hkv=1, bias=(4, 9, 17)),
}


def _torch_run(torch, q, k, v, mask, bias, opts, g):
    """torch SDPA in the inputs' dtype; returns out and autograd (dq, dk, dv[, dbias])."""
    tq, tk, tv = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    tb = None if bias is None else torch.tensor(bias, requires_grad=True)
    kwargs = dict(scale=opts.get("scale"), enable_gqa=k.shape[-3] != q.shape[-3])
    lq, lk = q.shape[-2], k.shape[-2]
    if opts.get("is_causal") and opts.get("causal_alignment") == "bottom_right":
        from torch.nn.attention.bias import causal_lower_right

        attn_mask = causal_lower_right(lq, lk)
    elif opts.get("is_causal"):
        attn_mask, kwargs["is_causal"] = None, True
    elif mask is not None and tb is not None:
        attn_mask = torch.where(torch.tensor(mask), tb, torch.tensor(-torch.inf, dtype=tb.dtype))
    elif mask is not None:
        attn_mask = torch.tensor(mask)
    else:
        attn_mask = tb
    out = torch.nn.functional.scaled_dot_product_attention(
        tq, tk, tv, attn_mask=attn_mask, **kwargs
    )
    out.backward(torch.tensor(g))
    grads = [tq.grad, tk.grad, tv.grad] + ([] if tb is None else [tb.grad])
    return out.detach().numpy(), [x.numpy() for x in grads]


@dtypes
@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_matches_torch(arch, rng, torch, dtype, name):
    """Forward and autograd grads (incl. dbias) agree with torch SDPA in the same dtype."""
    case = dict(TORCH_CASES[name])
    lead, lk = case.pop("lead"), case.pop("lk", 17)
    q, k, v = make_qkv(rng, dtype, lead, 9, lk, 8, dv=5, hkv=case.pop("hkv", None))
    mask = random_mask(rng, case.pop("mask"), 0.8) if "mask" in case else None
    if mask is not None:
        mask[..., 0] = True  # torch returns NaN for fully masked rows
    bias = randn(rng, case.pop("bias"), dtype) if "bias" in case else None
    g = grad_out_for(rng, q, v)
    want_out, want_grads = _torch_run(torch, q, k, v, mask, bias, case, g)
    out = fwd(q, k, v, mask, bias, **case)
    grads = bwd(g, q, k, v, mask, bias, **case)
    f32 = dtype == np.float32
    np.testing.assert_allclose(out, want_out, rtol=0, atol=2e-5 if f32 else 1e-12)
    assert len(grads) == len(want_grads)
    for label, a, b in zip(("dq", "dk", "dv", "dbias"), grads, want_grads):
        assert a.shape == b.shape and a.dtype == dtype, label
        mag = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=0, atol=(2e-4 if f32 else 1e-11) * mag, err_msg=label)


# ---------------------------------------------------------------------------------------------
# gradient checks (float64 finite differences of the kernel's own forward)


FD_CASES = {
    "LD": dict(lead=(), lq=3, lk=4),
    "BLD_mask": dict(lead=(2,), lq=3, lk=5, mask=(2, 3, 5)),
    "bias_broadcast": dict(lead=(1, 2), lq=3, lk=4, bias=(1, 2, 1, 4)),
    "mask+bias_2d": dict(lead=(2, 2), lq=3, lk=4, mask=(2, 1, 1, 4), bias=(3, 4)),
    "causal_br+window": dict(
        lead=(1, 2),
        lq=3,
        lk=6,
        is_causal=True,
        causal_alignment="bottom_right",
        window=(2, None),
        scale=0.8,
    ),
    "gqa+bias": dict(lead=(1, 4), hkv=2, lq=3, lk=4, bias=(4, 3, 4)),
    "fully_masked_rows": dict(
        lead=(1, 1), lq=5, lk=3, is_causal=True, causal_alignment="bottom_right", bias=(5, 3)
    ),
}


def fd_check(f, x, analytic, label):
    """Central differences (eps=1e-6) vs analytic grad, gradcheck's double tolerances."""
    num = numeric_grad(f, x, eps=1e-6)
    np.testing.assert_allclose(analytic, num, rtol=1e-3, atol=1e-5, err_msg=label)


@pytest.mark.parametrize("name", sorted(FD_CASES))
def test_backward_finite_differences(arch, rng, name):
    """Kernel backward (dq, dk, dv, dbias) equals finite differences of the kernel forward."""
    case = dict(FD_CASES[name])
    lead, lq, lk = case.pop("lead"), case.pop("lq"), case.pop("lk")
    q, k, v = make_qkv(rng, np.float64, lead, lq, lk, 4, dv=3, hkv=case.pop("hkv", None))
    mask = random_mask(rng, case.pop("mask")) if "mask" in case else None
    bias = randn(rng, case.pop("bias"), np.float64) if "bias" in case else None
    g = grad_out_for(rng, q, v)
    grads = bwd(g, q, k, v, mask, bias, **case)

    def loss(qq, kk, vv, bb):
        return float(np.sum(g * fwd(qq, kk, vv, mask, bb, **case)))

    fd_check(lambda x: loss(x, k, v, bias), q, grads[0], "dq")
    fd_check(lambda x: loss(q, x, v, bias), k, grads[1], "dk")
    fd_check(lambda x: loss(q, k, x, bias), v, grads[2], "dv")
    if bias is not None:
        assert grads[3].shape == bias.shape
        fd_check(lambda x: loss(q, k, v, x), bias, grads[3], "dbias")


# ---------------------------------------------------------------------------------------------
# dropout


def infer_keep(q, k, mask=None, bias=None, **opts):
    """The kernel's keep-mask, read off a run with V = identity (out[i, j] = P_ij keep_ij/(1-p)).

    Relies on DESIGN.md: the dropout mask is a counter-based function of
    (seed, batch, head, row, column) only, so it does not depend on V or Dv.
    """
    lk = k.shape[-2]
    eye = np.ascontiguousarray(np.broadcast_to(np.eye(lk, dtype=q.dtype), k.shape[:-2] + (lk, lk)))
    out = fwd(q, k, eye, mask, bias, **opts)
    return out != 0


@dtypes
def test_item_25_dropout_same_seed_bitwise(arch, rng, dtype):
    """Same seed -> bitwise-equal forward, weights and backward; and dropout does change out."""
    q, k, v = make_qkv(rng, dtype, (2, 3), 17, 33, 8)
    g = grad_out_for(rng, q, v)
    bias = randn(rng, (17, 33), dtype)
    opts = dict(dropout_p=0.3, seed=1234)
    a = fwd(q, k, v, bias=bias, return_weights=True, **opts)
    b = fwd(q, k, v, bias=bias, return_weights=True, **opts)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(fwd(q, k, v, bias=bias, **opts), a[0])
    for x, y in zip(bwd(g, q, k, v, bias=bias, **opts), bwd(g, q, k, v, bias=bias, **opts)):
        np.testing.assert_array_equal(x, y)
    assert np.any(a[0] != fwd(q, k, v, bias=bias))


@dtypes
def test_dropout_different_seed_differs(arch, rng, dtype):
    """Different seeds give different outputs and gradients."""
    q, k, v = make_qkv(rng, dtype, (2, 3), 17, 33, 8)
    g = grad_out_for(rng, q, v)
    a = fwd(q, k, v, dropout_p=0.3, seed=1)
    b = fwd(q, k, v, dropout_p=0.3, seed=2)
    assert np.any(a != b)
    ga = bwd(g, q, k, v, dropout_p=0.3, seed=1)
    gb = bwd(g, q, k, v, dropout_p=0.3, seed=2)
    for x, y in zip(ga, gb):
        assert np.any(x != y)


@dtypes
def test_item_25_dropout_p0_bitwise_equals_no_dropout(arch, rng, dtype):
    """dropout_p=0 (with a seed) is bitwise identical to no dropout, forward and backward."""
    q, k, v = make_qkv(rng, dtype, (2, 3), 17, 33, 8)
    g = grad_out_for(rng, q, v)
    mask = random_mask(rng, (17, 33))
    opts = dict(dropout_p=0.0, seed=99)
    np.testing.assert_array_equal(fwd(q, k, v, mask, **opts), fwd(q, k, v, mask))
    for x, y in zip(
        fwd(q, k, v, mask, return_weights=True, **opts), fwd(q, k, v, mask, return_weights=True)
    ):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(bwd(g, q, k, v, mask, **opts), bwd(g, q, k, v, mask)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_fraction_and_rescale(arch, rng, p):
    """About p of the weights are dropped (6-sigma binomial bound over 32768 draws), kept ones
    are scaled by exactly 1/(1-p), and the pattern varies across rows, heads and batches."""
    lq, lk = 8, 1024
    q = np.zeros((2, 2, lq, 4), np.float32)  # uniform P = 1/lk on every row
    k = randn(rng, (2, 2, lk, 4), np.float32)
    v = np.ascontiguousarray(np.broadcast_to(np.eye(lk, dtype=np.float32), (2, 2, lk, lk)))
    out = fwd(q, k, v, dropout_p=p, seed=7)
    kept = out != 0
    n = kept.size
    dropped = 1.0 - kept.mean()
    assert abs(dropped - p) <= 6 * np.sqrt(p * (1 - p) / n), f"dropped {dropped:.4f}, p={p}"
    np.testing.assert_allclose(out[kept], 1.0 / (lk * (1 - p)), rtol=1e-5)
    assert np.any(kept[0, 0, 0] != kept[0, 0, 1]), "same pattern on two rows"
    assert np.any(kept[0, 0] != kept[0, 1]), "same pattern on two heads"
    assert np.any(kept[0, 0] != kept[1, 0]), "same pattern on two batches"


@dtypes
@pytest.mark.parametrize("hkv", [None, 2])
def test_dropout_matches_oracle_with_kernel_mask(arch, rng, dtype, hkv):
    """With the keep-mask read off the kernel, forward and backward with dropout (plus mask,
    bias, causal) equal the oracle's (P * keep / (1 - p)) @ V and its grads."""
    q, k, v = make_qkv(rng, dtype, (2, 4), 9, 17, 8, dv=5, hkv=hkv)
    g = grad_out_for(rng, q, v)
    mask = random_mask(rng, (2, 1, 9, 17))
    bias = randn(rng, (9, 17), dtype)
    opts = dict(dropout_p=0.25, seed=5, is_causal=True, causal_alignment="bottom_right")
    keep = infer_keep(q, k, mask, bias, **opts)
    assert 0 < keep.mean() < 1
    ropts = dict(ref_opts(opts), dropout_keep=keep, dropout_p=0.25)
    want = ref.attention(q, k, v, mask, bias, **ropts)
    assert_close(fwd(q, k, v, mask, bias, **opts), want, kind="out", dtype=dtype, label="out")
    want_g = ref.attention_backward(g, q, k, v, mask, bias, **ropts)
    got_g = bwd(g, q, k, v, mask, bias, **opts)
    for label, a, b in zip(("dq", "dk", "dv", "dbias"), got_g, want_g):
        assert_close(a, b, kind="grad", dtype=dtype, label=label)


def test_item_25_dropout_finite_differences(arch, rng):
    """With a fixed seed, dropout backward equals finite differences of dropout forward
    (backward regenerates the forward's mask)."""
    q, k, v = make_qkv(rng, np.float64, (1, 2), 4, 6, 3, dv=2)
    bias = randn(rng, (4, 6), np.float64)
    g = grad_out_for(rng, q, v)
    opts = dict(dropout_p=0.4, seed=11)
    grads = bwd(g, q, k, v, bias=bias, **opts)

    def loss(qq, kk, vv, bb):
        return float(np.sum(g * fwd(qq, kk, vv, bias=bb, **opts)))

    assert np.any(fwd(q, k, v, bias=bias, **opts) != fwd(q, k, v, bias=bias))
    fd_check(lambda x: loss(x, k, v, bias), q, grads[0], "dq")
    fd_check(lambda x: loss(q, x, v, bias), k, grads[1], "dk")
    fd_check(lambda x: loss(q, k, x, bias), v, grads[2], "dv")
    fd_check(lambda x: loss(q, k, v, x), bias, grads[3], "dbias")


@dtypes
def test_dropout_weights_are_pre_dropout(arch, rng, dtype):
    """Weights returned with dropout are the pre-dropout softmax: rows sum to 1 and equal
    the no-dropout weights."""
    q, k, v = make_qkv(rng, dtype, (2, 3), 9, 33, 8)
    _, w = fwd(q, k, v, dropout_p=0.5, seed=3, return_weights=True)
    _, w0 = fwd(q, k, v, return_weights=True)
    atol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(w, w0, rtol=0, atol=atol)
    row_tol = max(1e-6, 33 * 1.2e-7)
    np.testing.assert_allclose(w.sum(-1, dtype=np.float64), 1.0, rtol=0, atol=row_tol)


# ---------------------------------------------------------------------------------------------
# fully masked rows, empty keys, non-finite masked inputs, large logits


FULLY_MASKED = [
    "mask_rows",
    "key_padding_batch",
    "bottom_right_lq_gt_lk",
    "window_out_of_range",
    "minus_inf_bias_row",
]


def _fully_masked_setup(rng, dtype, how):
    """(q, k, v, mask, bias, opts, dead) where dead (B, H, Lq) marks rows with no key."""
    q, k, v = make_qkv(rng, dtype, (2, 2), 9, 7, 8, dv=5)
    bias = randn(rng, (1, 2, 9, 7), dtype)
    mask, opts = None, {}
    if how == "mask_rows":
        mask = random_mask(rng, (2, 2, 9, 7), 0.7)
        mask[0, 1, [2, 5]] = False
        mask[1, 0, 8] = False
    elif how == "key_padding_batch":
        mask = np.ones((2, 1, 1, 7), dtype=bool)
        mask[1] = False
        mask[0, 0, 0, 3] = False
    elif how == "bottom_right_lq_gt_lk":
        opts = dict(is_causal=True, causal_alignment="bottom_right")
    elif how == "window_out_of_range":
        # bottom_right with Lq=9 > Lk=7: row i sees only key i - 2, so rows 0 and 1 see none
        opts = dict(window=(0, 0), causal_alignment="bottom_right")
    elif how == "minus_inf_bias_row":
        bias = np.broadcast_to(bias, (2, 2, 9, 7)).copy()
        bias[0, 1, 4] = -np.inf
        bias[1, 1, [0, 8]] = -np.inf
    full = (2, 2, 9, 7)
    allowed = np.broadcast_to(allowed_keys(9, 7, **opts), full)
    if mask is not None:
        allowed = allowed & mask
    allowed = allowed & ~np.broadcast_to(bias == -np.inf, full)
    dead = ~allowed.any(-1)
    assert dead.any() and not dead.all()
    return q, k, v, mask, bias, opts, dead


@dtypes
@pytest.mark.parametrize("how", FULLY_MASKED)
@pytest.mark.parametrize("return_weights", [False, True], ids=["fused", "weights"])
@pytest.mark.parametrize("dropout", [False, True], ids=["", "dropout"])
def test_item_17_fully_masked_rows_exact_zeros(arch, rng, dtype, how, return_weights, dropout):
    """Rows that can see no key give exactly 0 in out and weights, gradients flowing from them
    are exactly 0 (dq, dk, dv, dbias), and no NaN appears anywhere."""
    q, k, v, mask, bias, opts, dead = _fully_masked_setup(rng, dtype, how)
    if dropout:
        opts = dict(opts, dropout_p=0.2, seed=17)
    res = fwd(q, k, v, mask, bias, return_weights=return_weights, **opts)
    out = res[0] if return_weights else res
    assert not np.isnan(out).any()
    assert np.all(out[dead] == 0)
    if return_weights:
        w = res[1]
        assert not np.isnan(w).any()
        assert np.all(w[dead] == 0)
        np.testing.assert_allclose(w[~dead].sum(-1, dtype=np.float64), 1.0, atol=1e-6)
    if not dropout:
        check_forward(q, k, v, mask, bias, **opts)

    g_dead = np.where(dead[..., None], grad_out_for(rng, q, v), 0).astype(dtype)
    for label, grad in zip(("dq", "dk", "dv", "dbias"), bwd(g_dead, q, k, v, mask, bias, **opts)):
        assert not np.isnan(grad).any(), label
        assert np.all(grad == 0), label
    g = grad_out_for(rng, q, v)
    grads = bwd(g, q, k, v, mask, bias, **opts)
    for label, grad in zip(("dq", "dk", "dv", "dbias"), grads):
        assert not np.isnan(grad).any(), label
    assert np.all(grads[0][dead] == 0)


@dtypes
@pytest.mark.parametrize("return_weights", [False, True], ids=["fused", "weights"])
def test_item_09_empty_keys_give_zeros(arch, rng, dtype, return_weights):
    """Lk == 0 with Lq > 0 is fully masked: zero output, (.., Lq, 0) weights, zero dq,
    empty dk/dv, zero-size dbias."""
    q = randn(rng, (2, 3, 5, 8), dtype)
    k = np.zeros((2, 3, 0, 8), dtype)
    v = np.zeros((2, 3, 0, 4), dtype)
    bias = np.zeros((5, 0), dtype)
    res = fwd(q, k, v, bias=bias, return_weights=return_weights)
    out = res[0] if return_weights else res
    assert out.shape == (2, 3, 5, 4) and out.dtype == dtype
    assert np.all(out == 0)
    if return_weights:
        assert res[1].shape == (2, 3, 5, 0) and res[1].dtype == dtype
    dq, dk, dv, db = bwd(np.ones((2, 3, 5, 4), dtype), q, k, v, bias=bias)
    assert dq.shape == q.shape and np.all(dq == 0)
    assert dk.shape == k.shape and dv.shape == v.shape and db.shape == bias.shape
    assert dq.dtype == dk.dtype == dv.dtype == db.dtype == dtype


@dtypes
def test_item_18_finfo_min_bias_no_nan(arch, rng, dtype):
    """An additive mask of finfo.min (on some keys, and on a whole row, which then stays
    uniform) gives no NaN and matches the oracle."""
    q, k, v = make_qkv(rng, dtype, (2, 2), 9, 17, 8)
    bias = np.zeros((9, 17), dtype)
    bias[:, ::3] = np.finfo(dtype).min
    bias[4] = np.finfo(dtype).min
    out = fwd(q, k, v, bias=bias)
    assert not np.isnan(out).any()
    check_forward(q, k, v, bias=bias)
    dq, dk, dv, db = bwd(grad_out_for(rng, q, v), q, k, v, bias=bias)
    for grad in (dq, dk, dv, db):
        assert not np.isnan(grad).any()


@dtypes
def test_item_18_huge_finite_bias_is_clamped(arch, rng, dtype):
    """The kernels add bias * log2(e); a finite bias beyond finfo.max * ln 2 counts as that
    (documented), so it never overflows into a mask: a row of such biases stays uniform, while
    -inf still masks and NaN still poisons its row."""
    q, k, v = make_qkv(rng, dtype, (1, 1), 4, 17, 8)
    f = np.finfo(dtype)
    bias = np.zeros((4, 17), dtype)
    bias[0] = np.linspace(-f.max, -0.7 * f.max, 17)  # all beyond the clamp
    bias[1] = -f.max
    bias[1, :5] = -np.inf
    bias[2, 3] = np.nan
    bias[3, 1] = 0.9 * f.max  # one key far above the rest
    out, w = fwd(q, k, v, bias=bias, return_weights=True)
    np.testing.assert_allclose(w[0, 0, 0], np.full(17, 1 / 17), rtol=1e-6)
    assert np.all(w[0, 0, 1, :5] == 0)
    np.testing.assert_allclose(w[0, 0, 1, 5:], np.full(12, 1 / 12), rtol=1e-6)
    assert np.isnan(out[0, 0, 2]).all()
    np.testing.assert_array_equal(w[0, 0, 3], np.eye(17, dtype=dtype)[1])


POISONS = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "1e30": 1e30}


def _poisoned(rng, dtype, poison):
    """Clean inputs plus copies whose masked-out keys (for every query) hold `poison`."""
    q, k, v = make_qkv(rng, dtype, (2, 2), 9, 17, 8, dv=5)
    mask = np.ones((2, 1, 1, 17), dtype=bool)
    mask[0, 0, 0, [3, 16]] = False
    mask[1, 0, 0, 0] = False
    kp, vp = k.copy(), v.copy()
    kp[0, :, [3, 16]] = poison
    vp[0, :, [3, 16]] = poison
    kp[1, :, 0, 2] = poison
    vp[1, :, 0, 4] = poison
    return q, k, v, kp, vp, mask


@dtypes
@pytest.mark.parametrize("poison", sorted(POISONS))
@pytest.mark.parametrize("causal", [False, True], ids=["", "causal"])
def test_item_20_nonfinite_masked_kv_do_not_change_output(arch, rng, dtype, poison, causal):
    """NaN/inf/1e30 in masked-out K and V leave out and weights bitwise equal to the clean run
    (masking is a select, not a multiply)."""
    q, k, v, kp, vp, mask = _poisoned(rng, dtype, POISONS[poison])
    opts = dict(is_causal=causal)
    clean = fwd(q, k, v, mask, **opts)
    dirty = fwd(q, kp, vp, mask, **opts)
    assert not np.isnan(dirty).any()
    np.testing.assert_array_equal(dirty, clean)
    for a, b in zip(
        fwd(q, kp, vp, mask, return_weights=True, **opts),
        fwd(q, k, v, mask, return_weights=True, **opts),
    ):
        assert not np.isnan(a).any()
        np.testing.assert_array_equal(a, b)


@dtypes
@pytest.mark.parametrize("poison", sorted(POISONS))
def test_item_20_nonfinite_masked_kv_do_not_change_grads(arch, rng, dtype, poison):
    """NaN/inf/1e30 in masked-out K and V leave dq, dk, dv bitwise equal to the clean run."""
    q, k, v, kp, vp, mask = _poisoned(rng, dtype, POISONS[poison])
    g = grad_out_for(rng, q, v)
    for label, a, b in zip(("dq", "dk", "dv"), bwd(g, q, kp, vp, mask), bwd(g, q, k, v, mask)):
        assert not np.isnan(a).any(), label
        np.testing.assert_array_equal(a, b, err_msg=label)


@dtypes
def test_item_19_large_logits(arch, rng, dtype):
    """q scaled by 1e4 (|scores| ~ 1e4): output and grads finite and equal to the oracle
    (grads to within rounding of the 1e4-sized inputs: 16 eps max|q|)."""
    q, k, v = make_qkv(rng, dtype, (2, 2), 9, 17, 16)
    q = (q * 1e4).astype(dtype)
    scores = np.sort(q.astype(np.float64) @ np.swapaxes(k, -1, -2).astype(np.float64) / 4, -1)
    assert np.min(scores[..., -1] - scores[..., -2]) > 10, "precondition: no near-ties"
    out = fwd(q, k, v)
    assert np.isfinite(out).all()
    check_forward(q, k, v, naive=True)
    floor = 16 * np.finfo(dtype).eps * float(np.abs(q).max())
    grads = check_backward(grad_out_for(rng, q, v), q, k, v, naive=True, floor=floor)
    for grad in grads:
        assert np.isfinite(grad).all()


# ---------------------------------------------------------------------------------------------
# empty sizes, memory layouts, threads


EMPTY = {
    "B0": ((0, 2), 5, 7),
    "H0": ((2, 0), 5, 7),
    "Lq0": ((2, 2), 0, 7),
    "B0_3d": ((0,), 5, 7),
    "Lq0_2d": ((), 0, 7),
}


@dtypes
@pytest.mark.parametrize("name", sorted(EMPTY))
def test_item_08_empty_sizes(arch, rng, dtype, name):
    """B=0, H=0 or Lq=0 give empty results of the right shape and dtype, forward and backward
    (with a broadcast bias, whose dbias is all zeros)."""
    lead, lq, lk = EMPTY[name]
    q, k, v = make_qkv(rng, dtype, lead, lq, lk, 8, dv=3)
    bias = randn(rng, (lq, lk), dtype)
    out, w = fwd(q, k, v, bias=bias, return_weights=True)
    assert out.shape == lead + (lq, 3) and out.dtype == dtype
    assert w.shape == lead + (lq, lk) and w.dtype == dtype
    assert fwd(q, k, v, bias=bias).shape == lead + (lq, 3)
    dq, dk, dv, db = bwd(np.zeros(lead + (lq, 3), dtype), q, k, v, bias=bias)
    assert dq.shape == q.shape and dk.shape == k.shape and dv.shape == v.shape
    assert db.shape == bias.shape and np.all(db == 0)
    assert np.all(dk == 0) and np.all(dv == 0)
    for grad in (dq, dk, dv, db):
        assert grad.dtype == dtype


def _layout(x, kind):
    """(view, base): a view equal to x in value but with an unusual layout; base owns memory.

    Gaps in strided layouts hold NaN (or flipped bools), so reading them shows up.
    """
    if kind == "transposed":
        base = np.ascontiguousarray(np.swapaxes(x, -3, -2))
        return np.swapaxes(base, -3, -2), base
    if kind == "last_axes_transposed":
        base = np.ascontiguousarray(np.swapaxes(x, -1, -2))
        return np.swapaxes(base, -1, -2), base
    if kind in ("step2_rows", "step2_cols"):
        axis = -2 if kind == "step2_rows" else -1
        shape = list(x.shape)
        shape[axis] *= 2
        base = np.empty(shape, x.dtype)
        base[...] = ~np.resize(x, shape) if x.dtype == bool else np.nan
        idx = [slice(None)] * x.ndim
        idx[axis] = slice(None, None, 2)
        base[tuple(idx)] = x
        return base[tuple(idx)], base
    if kind in ("reversed_rows", "reversed_cols"):
        idx = [slice(None)] * x.ndim
        idx[-2 if kind == "reversed_rows" else -1] = slice(None, None, -1)
        base = np.ascontiguousarray(x[tuple(idx)])
        return base[tuple(idx)], base
    if kind == "fortran":
        base = np.asfortranarray(x)
        return base, base
    if kind == "readonly":
        base = x.copy()
        base.setflags(write=False)
        return base, base
    if kind == "stride0_batch":
        base = x[:1].copy()
        return np.broadcast_to(base, x.shape), base
    raise AssertionError(kind)


LAYOUTS = [
    "transposed",
    "last_axes_transposed",
    "step2_rows",
    "step2_cols",
    "reversed_rows",
    "reversed_cols",
    "fortran",
    "readonly",
    "stride0_batch",
]


@dtypes
@pytest.mark.parametrize("layout", LAYOUTS)
def test_item_10_11_layouts_bitwise_and_never_written(arch, rng, dtype, layout):
    """Strided, transposed, negative-stride, Fortran, read-only and stride-0 q/k/v/mask/bias/
    grad_out give bitwise the same out, weights and grads as contiguous copies, and no input
    buffer is written."""
    q, k, v = make_qkv(rng, dtype, (2, 3), 9, 17, 8, dv=5)
    arrays = dict(
        q=q,
        k=k,
        v=v,
        g=grad_out_for(rng, q, v),
        mask=random_mask(rng, (2, 1, 9, 17)),
        bias=randn(rng, (1, 3, 9, 17), dtype),
    )
    views, bases = {}, {}
    for name, x in arrays.items():
        views[name], bases[name] = _layout(x, layout)
    saved = {name: b.copy() for name, b in bases.items()}
    contig = {name: np.ascontiguousarray(x) for name, x in views.items()}
    for name in views:
        np.testing.assert_array_equal(views[name], contig[name])

    opts = dict(is_causal=True, causal_alignment="bottom_right", dropout_p=0.1, seed=4)
    for kw in (dict(return_weights=True), {}):
        got = fwd(views["q"], views["k"], views["v"], views["mask"], views["bias"], **kw, **opts)
        want = fwd(
            contig["q"], contig["k"], contig["v"], contig["mask"], contig["bias"], **kw, **opts
        )
        for a, b in zip(got if kw else [got], want if kw else [want]):
            np.testing.assert_array_equal(a, b)
    got = bwd(views["g"], views["q"], views["k"], views["v"], views["mask"], views["bias"], **opts)
    want = bwd(
        contig["g"], contig["q"], contig["k"], contig["v"], contig["mask"], contig["bias"], **opts
    )
    for label, a, b in zip(("dq", "dk", "dv", "dbias"), got, want):
        np.testing.assert_array_equal(a, b, err_msg=label)
    for name, b in bases.items():
        np.testing.assert_array_equal(b, saved[name], err_msg=f"{name} was written")


@dtypes
def test_inputs_not_written_and_outputs_fresh(arch, rng, dtype):
    """Outputs never alias an input, and contiguous inputs are left untouched."""
    q, k, v = make_qkv(rng, dtype, (2, 3), 9, 9, 8)
    g = grad_out_for(rng, q, v)
    bias = randn(rng, (9, 9), dtype)
    saved = [x.copy() for x in (q, k, v, g, bias)]
    results = list(fwd(q, k, v, bias=bias, return_weights=True))
    results += list(bwd(g, q, k, v, bias=bias))
    for x, s in zip((q, k, v, g, bias), saved):
        np.testing.assert_array_equal(x, s)
    for r in results:
        for x in (q, k, v, g, bias):
            assert not np.shares_memory(r, x)


@dtypes
@pytest.mark.parametrize(
    "shape", [(2, 3, 65, 130, 17), (1, 2, 257, 257, 33)], ids=["65x130", "257x257"]
)
def test_item_26_thread_count_bitwise(arch, rng, restore_threads, dtype, shape):
    """Out, weights and grads (with mask, bias, causal, dropout) are bitwise identical for
    1, 2 and 3 threads."""
    b, h, lq, lk, d = shape
    q, k, v = make_qkv(rng, dtype, (b, h), lq, lk, d)
    g = grad_out_for(rng, q, v)
    mask = random_mask(rng, (b, 1, 1, lk), 0.9)
    bias = randn(rng, (h, lq, lk), dtype)
    opts = dict(is_causal=True, causal_alignment="bottom_right", dropout_p=0.1, seed=8)
    results = []
    for n in (1, 2, 3):
        al.set_num_threads(n)
        assert al.get_num_threads() == n
        res = list(fwd(q, k, v, mask, bias, return_weights=True, **opts))
        res.append(fwd(q, k, v, mask, bias, **opts))
        res += list(bwd(g, q, k, v, mask, bias, **opts))
        results.append(res)
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            np.testing.assert_array_equal(a, b_)
