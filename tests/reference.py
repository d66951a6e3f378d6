"""Float64 NumPy oracle for attnlab's fused attention, forward and backward.

Written for clarity, not speed: it materialises the full (..., Lq, Lk) score matrix.
It never imports attnlab, so a bug in the package cannot leak into its own oracle.
tests/test_reference.py checks it against PyTorch and against finite differences.

Conventions (DESIGN.md, "Python API"):
- q (..., Lq, D), k (..., Lk, D), v (..., Lk, Dv); leading dims (B, H), (B,) or none.
- With 4-D inputs k/v may have Hkv < H heads: q head h uses kv head h // (H // Hkv).
- mask: bool, broadcastable to (..., Lq, Lk), True = may attend.
- bias: float, added to the *scaled* scores; a -inf bias entry behaves like a masked key.
- is_causal / window / mask / bias intersect; a row with no allowed key gives 0 everywhere
  (output, weights, gradients), including Lk == 0.
- Masking is a select (np.where), never a multiplication, so NaN/inf at masked keys or
  values cannot leak into the result.
"""

import math

import numpy as np

ALIGNMENTS = ("top_left", "bottom_right")


def allowed_keys(lq, lk, *, is_causal=False, causal_alignment="top_left", window=None):
    """Bool (lq, lk) matrix: True where query i may see key j by causality and window.

    The aligned position of query i is a = i (top_left) or a = i + lk - lq (bottom_right);
    causal allows j <= a; window=(left, right) allows a - left <= j <= a + right, with None
    meaning unbounded on that side. The alignment applies to the window even when
    is_causal is False.
    """
    if causal_alignment not in ALIGNMENTS:
        raise ValueError(f"causal_alignment must be one of {ALIGNMENTS}, got {causal_alignment!r}")
    i = np.arange(lq)[:, None]
    j = np.arange(lk)[None, :]
    a = i + (lk - lq if causal_alignment == "bottom_right" else 0)
    allowed = np.ones((lq, lk), dtype=bool)
    if is_causal:
        allowed &= j <= a
    if window is not None:
        left, right = window
        if left is not None:
            allowed &= j >= a - left
        if right is not None:
            allowed &= j <= a + right
    return allowed


def reduce_to_shape(x, shape):
    """Sum x over the axes that broadcasting expanded from `shape` (the adjoint of broadcast_to)."""
    shape = tuple(shape)
    extra = x.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"cannot reduce shape {x.shape} to {shape}")
    if extra:
        x = x.sum(axis=tuple(range(extra)))
    axes = tuple(ax for ax, n in enumerate(shape) if n == 1 and x.shape[ax] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return x.reshape(shape)


def numeric_grad(f, x, eps=1e-6):
    """Central finite-difference gradient of the scalar function f at x (float64 array).

    f is called with perturbed copies of x; x itself is not modified.
    """
    x = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + eps
        fp = f(x.copy())
        x[idx] = orig - eps
        fm = f(x.copy())
        x[idx] = orig
        grad[idx] = (fp - fm) / (2.0 * eps)
    return grad


def _group_size(q, k):
    """Number of q heads per kv head (1 unless 4-D inputs with fewer kv heads)."""
    if q.ndim == 4 and k.ndim == 4 and k.shape[1] != q.shape[1]:
        h, hkv = q.shape[1], k.shape[1]
        if hkv == 0 or h % hkv:
            raise ValueError(f"q heads {h} not a multiple of kv heads {hkv}")
        return h // hkv
    return 1


def _expand_heads(x, group):
    return np.repeat(x, group, axis=1) if group > 1 else x


def _reduce_heads(x, group):
    if group == 1:
        return x
    b, h = x.shape[:2]
    return x.reshape((b, h // group, group) + x.shape[2:]).sum(axis=2)


def _select_matmul(a, b, valid):
    """a @ b where a's column j is used only where valid[..., i, j] (a select, not a product).

    Non-finite entries of b are zeroed for the matmul (a is 0 wherever not valid, so the
    finite part is unchanged bit for bit) and added back through an explicit per-(i, j)
    select, so a NaN/inf row of b at an invalid j is ignored while a valid one propagates.
    """
    finite = np.isfinite(b)
    if np.all(finite):
        return a @ b
    out = a @ np.where(finite, b, 0.0)
    bad = np.where(finite, 0.0, b)
    terms = np.where(valid[..., :, :, None], a[..., :, :, None] * bad[..., None, :, :], 0.0)
    return out + terms.sum(axis=-2)


def _forward_parts(
    q, k, v, mask, bias, is_causal, causal_alignment, window, scale, dropout_keep, dropout_p, dtype
):
    q = np.asarray(q, dtype=dtype)
    k = np.asarray(k, dtype=dtype)
    v = np.asarray(v, dtype=dtype)
    if q.ndim not in (2, 3, 4) or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"bad ranks q{q.shape} k{k.shape} v{v.shape}")
    lq, d = q.shape[-2:]
    lk = k.shape[-2]
    if k.shape[-1] != d or v.shape[-2] != lk:
        raise ValueError(f"mismatched q{q.shape} k{k.shape} v{v.shape}")
    group = _group_size(q, k)
    ke = _expand_heads(k, group)
    ve = _expand_heads(v, group)
    if ke.shape[:-2] != q.shape[:-2] or ve.shape[:-2] != q.shape[:-2]:
        raise ValueError(f"mismatched leading dims q{q.shape} k{k.shape} v{v.shape}")
    if scale is None:
        scale = 1.0 / math.sqrt(d) if d > 0 else 1.0
    full = q.shape[:-2] + (lq, lk)

    allowed = np.broadcast_to(
        allowed_keys(lq, lk, is_causal=is_causal, causal_alignment=causal_alignment, window=window),
        full,
    )
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"mask must be bool, got {mask.dtype}")
        allowed = allowed & np.broadcast_to(mask, full)

    with np.errstate(all="ignore"):
        s = (q @ np.swapaxes(ke, -1, -2)) * dtype(scale)
        if bias is not None:
            s = s + np.asarray(bias, dtype=dtype)
        s = np.broadcast_to(s, full)
        # A -inf score (from the bias) is a masked key; NaN stays valid so it propagates.
        valid = allowed & ~(s == -np.inf)
        m = np.max(s, axis=-1, keepdims=True, where=valid, initial=-np.inf)
        m = np.where(m == -np.inf, 0.0, m).astype(dtype)  # fully masked row: any finite shift
        e = np.where(valid, np.exp(s - m), 0.0).astype(dtype)
        denom = e.sum(axis=-1, keepdims=True)
        p = e / np.where(denom == 0, 1.0, denom).astype(dtype)

        if dropout_keep is not None:
            keep = np.broadcast_to(np.asarray(dropout_keep, dtype=bool), full)
            pd = np.where(keep, p / dtype(1.0 - dropout_p), 0.0).astype(dtype)
        else:
            if dropout_p:
                raise ValueError("dropout_p > 0 needs an explicit dropout_keep")
            keep = None
            pd = p
        out = _select_matmul(pd, ve, valid)
    return dict(
        q=q,
        ke=ke,
        ve=ve,
        group=group,
        scale=scale,
        valid=valid,
        s=s,
        p=p,
        pd=pd,
        keep=keep,
        out=out,
    )


def attention(
    q,
    k,
    v,
    mask=None,
    bias=None,
    *,
    is_causal=False,
    causal_alignment="top_left",
    window=None,
    scale=None,
    dropout_keep=None,
    dropout_p=0.0,
    return_weights=False,
    dtype=np.float64,
):
    """Scaled dot-product attention, computed in `dtype` (float64 unless estimating fp32 error).

    dropout_keep: optional bool array broadcastable to (..., Lq, Lk), True = kept; then
    out = (P * keep / (1 - dropout_p)) @ V. Returned weights are the pre-dropout softmax P.
    Returns out, or (out, weights) when return_weights.
    """
    r = _forward_parts(
        q,
        k,
        v,
        mask,
        bias,
        is_causal,
        causal_alignment,
        window,
        scale,
        dropout_keep,
        dropout_p,
        dtype,
    )
    if return_weights:
        return r["out"], r["p"]
    return r["out"]


def attention_logsumexp(
    q,
    k,
    v,
    mask=None,
    bias=None,
    *,
    is_causal=False,
    causal_alignment="top_left",
    window=None,
    scale=None,
):
    """log sum_j exp(s_ij) over the keys row i may see (..., Lq), in float64; -inf for a row
    that sees none."""
    r = _forward_parts(
        q, k, v, mask, bias, is_causal, causal_alignment, window, scale, None, 0.0, np.float64
    )
    with np.errstate(all="ignore"):
        m = np.max(r["s"], axis=-1, where=r["valid"], initial=-np.inf)
        shift = np.where(m == -np.inf, 0.0, m)
        total = np.where(r["valid"], np.exp(r["s"] - shift[..., None]), 0.0).sum(axis=-1)
        return np.where(total > 0, shift + np.log(total), -np.inf)


def attention_backward(
    grad_out,
    q,
    k,
    v,
    mask=None,
    bias=None,
    *,
    is_causal=False,
    causal_alignment="top_left",
    window=None,
    scale=None,
    dropout_keep=None,
    dropout_p=0.0,
    dtype=np.float64,
):
    """Gradients of sum(grad_out * attention(...)) w.r.t. q, k, v (and bias if given).

    Analytic: dV = Pd^T dO, dP = (dO V^T) * keep/(1-p), dS = P * (dP - rowsum(dO * O)),
    dQ = scale dS K, dK = scale dS^T Q, dbias = dS summed to bias's shape. With grouped-query
    heads dK/dV sum over the q heads of each group. Returns (dq, dk, dv) or (dq, dk, dv, dbias).
    """
    r = _forward_parts(
        q,
        k,
        v,
        mask,
        bias,
        is_causal,
        causal_alignment,
        window,
        scale,
        dropout_keep,
        dropout_p,
        dtype,
    )
    g = np.asarray(grad_out, dtype=dtype)
    if g.shape != r["out"].shape:
        raise ValueError(f"grad_out shape {g.shape} != output shape {r['out'].shape}")
    valid, p, pd, scale = r["valid"], r["p"], r["pd"], r["scale"]
    with np.errstate(all="ignore"):
        dpd = np.where(valid, g @ np.swapaxes(r["ve"], -1, -2), 0.0)
        if r["keep"] is not None:
            dp = np.where(r["keep"], dpd / dtype(1.0 - dropout_p), 0.0)
        else:
            dp = dpd
        delta = np.sum(g * r["out"], axis=-1, keepdims=True)
        ds = np.where(valid, p * (dp - delta), 0.0).astype(dtype)
        dq = dtype(scale) * _select_matmul(ds, r["ke"], valid)
        dk = dtype(scale) * (np.swapaxes(ds, -1, -2) @ r["q"])
        dv = np.swapaxes(pd, -1, -2) @ g
    dq = dq.astype(dtype)
    dk = _reduce_heads(dk, r["group"]).astype(dtype)
    dv = _reduce_heads(dv, r["group"]).astype(dtype)
    if bias is None:
        return dq, dk, dv
    dbias = reduce_to_shape(ds, np.shape(bias)).astype(dtype)
    return dq, dk, dv, dbias
