"""float64 NumPy oracles for the building blocks (norms, activations, softmax, losses,
embedding, positional encodings), forward and backward. Written for clarity, not speed: loops
where they make the definition obvious. The backward formulas are derived from the math, not
from the kernels; tests/test_reference_blocks.py checks them against finite differences.

Backward oracles take ``dtype``: float64 for the oracle, float32 to measure the error of a
naive float32 evaluation of the same formula (the tolerance convention of RELIABILITY.md)."""

import math

import numpy as np


def layer_norm(x, k, weight=None, bias=None, eps=1e-5):
    """Normalizes over the last k axes with the biased variance, in float64."""
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        y = y * np.asarray(weight, dtype=np.float64)
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float64)
    return y


def _row_mean(x, axes):
    """Mean over `axes`, 0 for an empty row (no warning, nothing to average)."""
    n = math.prod(x.shape[a] for a in axes)
    return x.sum(axis=axes, keepdims=True) / max(n, 1)


def _lead_sum(x, k):
    """Sum over all but the last k axes (the adjoint of broadcasting a weight of x's last k
    axes)."""
    return x.sum(axis=tuple(range(x.ndim - k)))


def layer_norm_backward(grad_out, x, k, weight=None, eps=1e-5, dtype=np.float64):
    """(dx, dweight, dbias) of layer_norm over the last k axes, computed in `dtype`.

    With xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps) and gy = grad_out * weight:
    dx = rstd * (gy - mean(gy) - xhat * mean(gy * xhat)), dweight = sum(grad_out * xhat),
    dbias = sum(grad_out) over the leading axes. dweight is None without weight.
    """
    x, g = np.asarray(x, dtype=dtype), np.asarray(grad_out, dtype=dtype)
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = _row_mean(x, axes)
    rstd = 1 / np.sqrt(_row_mean((x - mean) ** 2, axes) + dtype(eps))
    xhat = (x - mean) * rstd
    gy = g if weight is None else g * np.asarray(weight, dtype=dtype)
    dx = rstd * (gy - _row_mean(gy, axes) - xhat * _row_mean(gy * xhat, axes))
    dweight = None if weight is None else _lead_sum(g * xhat, k)
    return dx, dweight, _lead_sum(g, k)


def rms_norm(x, k, weight=None, eps=None):
    x = np.asarray(x, dtype=np.float64)
    eps = np.finfo(np.float64).eps if eps is None else eps
    axes = tuple(range(x.ndim - k, x.ndim))
    y = x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    return y if weight is None else y * np.asarray(weight, dtype=np.float64)


def rms_norm_backward(grad_out, x, k, weight=None, eps=1e-6, dtype=np.float64):
    """(dx, dweight) of rms_norm over the last k axes, computed in `dtype`.

    With r = 1 / sqrt(mean(x^2) + eps), y = x * r and gy = grad_out * weight:
    dx = r * (gy - y * mean(gy * y)), dweight = sum(grad_out * y) over the leading axes.
    """
    x, g = np.asarray(x, dtype=dtype), np.asarray(grad_out, dtype=dtype)
    axes = tuple(range(x.ndim - k, x.ndim))
    r = 1 / np.sqrt(_row_mean(x * x, axes) + dtype(eps))
    y = x * r
    gy = g if weight is None else g * np.asarray(weight, dtype=dtype)
    dx = r * (gy - y * _row_mean(gy * y, axes))
    return dx, None if weight is None else _lead_sum(g * y, k)


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x, approximate="none"):
    x = np.asarray(x, dtype=np.float64)
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def gelu_backward(grad_out, x, approximate="none", dtype=np.float64):
    """grad_out * d gelu / dx, computed in `dtype`.

    Exact: Phi(x) + x phi(x), with Phi(x) = erfc(-x / sqrt 2) / 2 (no cancellation in the
    negative tail) and phi the standard normal density. tanh form, u = c (x + a x^3):
    (1 + tanh u) / 2 + x (1 - tanh^2 u) c (1 + 3 a x^2) / 2, with c = sqrt(2 / pi), a = 0.044715.
    """
    x, g = np.asarray(x, dtype=dtype), np.asarray(grad_out, dtype=dtype)
    if approximate == "tanh":
        c, a = dtype(math.sqrt(2.0 / math.pi)), dtype(0.044715)
        t = np.tanh(c * (x + a * x**3))
        return g * (dtype(0.5) * (1 + t) + dtype(0.5) * x * (1 - t * t) * c * (1 + 3 * a * x * x))
    cdf = (0.5 * _erfc(-x / math.sqrt(2.0))).astype(dtype)
    pdf = np.exp(-dtype(0.5) * x * x) / dtype(math.sqrt(2.0 * math.pi))
    return g * (cdf + x * pdf)


def relu(x):
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def relu_backward(grad_out, x, dtype=np.float64):
    """grad_out where x > 0, else 0 (0 at the kink and for NaN x, as PyTorch)."""
    x, g = np.asarray(x, dtype=dtype), np.asarray(grad_out, dtype=dtype)
    return np.where(x > 0, g, dtype(0))


def silu(x):
    x = np.asarray(x, dtype=np.float64)
    return x * np.exp(-np.logaddexp(0.0, -x))  # x * sigmoid(x) without overflow


def silu_backward(grad_out, x, dtype=np.float64):
    """grad_out * s (1 + x (1 - s)) with s = sigmoid(x), computed in `dtype`."""
    x, g = np.asarray(x, dtype=dtype), np.asarray(grad_out, dtype=dtype)
    s = np.exp(-np.logaddexp(dtype(0), -x))
    return g * s * (1 + x * (1 - s))


def log_softmax(x, axis=-1, dtype=np.float64):
    x = np.asarray(x, dtype=dtype)
    m = x.max(axis=axis, keepdims=True, initial=-np.inf)
    with np.errstate(divide="ignore"):  # an empty row's log(0), broadcast to no element
        return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def softmax(x, axis=-1, dtype=np.float64):
    return np.exp(log_softmax(x, axis, dtype))


def softmax_backward(grad_out, x, axis=-1, dtype=np.float64):
    """y * (grad_out - sum(grad_out * y)) with y = softmax(x), computed in `dtype`."""
    g, y = np.asarray(grad_out, dtype=dtype), softmax(x, axis, dtype)
    return y * (g - (g * y).sum(axis=axis, keepdims=True))


def log_softmax_backward(grad_out, x, axis=-1, dtype=np.float64):
    """grad_out - softmax(x) * sum(grad_out), computed in `dtype`."""
    g = np.asarray(grad_out, dtype=dtype)
    return g - softmax(x, axis, dtype) * g.sum(axis=axis, keepdims=True)


def cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """Class axis 1 (0 for a 1-D input), as PyTorch; one row at a time."""
    logits = np.asarray(logits, dtype=np.float64)
    axis = 0 if logits.ndim == 1 else 1
    rows = np.moveaxis(logits, axis, -1).reshape(-1, logits.shape[axis])
    flat = np.asarray(target).reshape(-1)
    losses = np.zeros(len(flat))
    for r, t in enumerate(flat):
        if t == ignore_index:
            continue
        ls = log_softmax(rows[r])
        losses[r] = -(1 - label_smoothing) * ls[t] - label_smoothing * ls.mean()
    if reduction == "none":
        return losses.reshape(np.shape(target))
    if reduction == "sum":
        return losses.sum()
    count = np.count_nonzero(flat != ignore_index)
    return losses.sum() / count if count else np.nan


def cross_entropy_backward(
    grad_out,
    logits,
    target,
    ignore_index=-100,
    label_smoothing=0.0,
    reduction="mean",
    dtype=np.float64,
):
    """d cross_entropy / d logits (logits' shape), computed in `dtype`.

    Per row with class c: softmax(row) - (1 - label_smoothing) onehot(c) - label_smoothing / C,
    times the row's loss gradient: grad_out for "sum", grad_out / (non-ignored count) for
    "mean", grad_out[position] for "none"; 0 for rows whose target is ignore_index.
    """
    logits = np.asarray(logits, dtype=dtype)
    axis = 0 if logits.ndim == 1 else 1
    flat = np.asarray(target).reshape(-1)
    rows = np.moveaxis(logits, axis, -1).reshape(len(flat), logits.shape[axis])
    kept = flat != ignore_index
    if reduction == "none":
        row_grad = np.asarray(grad_out, dtype=dtype).reshape(-1)
    else:
        count = np.count_nonzero(kept) if reduction == "mean" else 1
        row_grad = np.full(len(flat), dtype(grad_out) / dtype(max(count, 1)))
    classes = rows.shape[1]
    onehot = np.arange(classes) == np.where(kept, flat, -1)[:, None]
    smooth = dtype(label_smoothing) / dtype(max(classes, 1))
    d = softmax(rows, -1, dtype) - dtype(1 - label_smoothing) * onehot - smooth
    d = np.where(kept[:, None], d * row_grad[:, None].astype(dtype), dtype(0))
    moved = np.moveaxis(logits, axis, -1).shape
    return np.moveaxis(d.reshape(moved), -1, axis)


def rope(x, positions, base=10000.0, rotary_dim=None, interleaved=False):
    """Rotates each pair of features with an explicit 2x2 rotation matrix, in float64."""
    x = np.asarray(x, dtype=np.float64)
    dim = x.shape[-1]
    rotary_dim = dim if rotary_dim is None else rotary_dim
    half = rotary_dim // 2
    pos = np.broadcast_to(np.asarray(positions, dtype=np.float64), x.shape[:-1])
    out = x.copy()
    for idx in np.ndindex(x.shape[:-1]):
        for k in range(half):
            theta = pos[idx] * base ** (-2.0 * k / rotary_dim)
            rot = np.array(
                [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
            )
            pair = [2 * k, 2 * k + 1] if interleaved else [k, k + half]
            out[idx + (pair,)] = rot @ x[idx + (pair,)]
    return out


def sinusoidal(length, dim, base=10000.0, offset=0):
    """Vaswani et al. 2017, element by element: PE(p, 2i) = sin(p / base^(2i/d)),
    PE(p, 2i+1) = cos(p / base^(2i/d))."""
    table = np.zeros((length, dim))
    for p in range(length):
        for c in range(dim):
            i = c // 2
            angle = (p + offset) / base ** (2 * i / dim)
            table[p, c] = math.sin(angle) if c % 2 == 0 else math.cos(angle)
    return table


# ---------------------------------------------------------------------------------------------
# test helpers

DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["f32", "f64"]
# Sizes that cover SIMD tails and the scalar path on every arch.
SIZES = [1, 7, 8, 9, 17, 1023, 1025]


def tol(dtype, scale=1.0):
    """Forward tolerance against the float64 oracle (RELIABILITY.md), times ``scale``."""
    if np.dtype(dtype) == np.float32:
        return dict(atol=1e-5 * scale, rtol=1e-5 * scale)
    return dict(atol=1e-12 * scale, rtol=1e-10 * scale)


# RELIABILITY.md's sizes to sweep: every arch's SIMD tails, the scalar path and empty rows.
RELIABILITY_SIZES = [0, 1, 7, 8, 9, 15, 16, 17, 1023, 1024, 1025]


def row_counts(n):
    """A few row counts for rows of length n: one row, and several (fewer when rows are long)."""
    return (1, 5) if n <= 17 else (1, 3)


def assert_backward_close(got, want, naive, dtype, label="", floor=0.0):
    """A kernel gradient against the float64 oracle, by RELIABILITY.md's tolerance conventions.

    float32 ("Larger L and backward"): atol = max(1e-5, max|naive - want|) x 2, rtol 5e-6 (the
    float32 forward default), where `naive` is the oracle's formula evaluated in float32; the
    fudge 2 is TT's dQ/dV factor. float64: atol 1e-12 x max(1, max|want|), rtol 1e-10 (there
    is no wider type to measure a naive error in). `floor` is a lower bound on atol, for
    rounding that the naive order avoids but a correct kernel may not. `want` must be finite: a
    NaN in the oracle would hide a mismatch.
    """
    got = np.asarray(got)
    assert got.dtype == dtype, f"{label}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert got.shape == want.shape, f"{label}: shape {got.shape}, expected {want.shape}"
    assert np.isfinite(want).all(), f"{label}: the oracle is not finite"
    if np.dtype(dtype) == np.float32:
        naive_error = float(np.max(np.abs(naive.astype(np.float64) - want), initial=0.0))
        atol, rtol = 2 * max(1e-5, naive_error), 5e-6
    else:
        atol, rtol = 1e-12 * max(1.0, float(np.max(np.abs(want), initial=0.0))), 1e-10
    atol = max(atol, floor)
    np.testing.assert_allclose(got, want, atol=atol, rtol=rtol, equal_nan=False, err_msg=label)


def oracle_and_naive(backward, *args, **kwargs):
    """A backward oracle evaluated in float64 (the oracle) and in float32 (the naive error)."""
    return backward(*args, **kwargs, dtype=np.float64), backward(*args, **kwargs, dtype=np.float32)


def assert_grads_close(got, want, naive, dtype, labels, floor=0.0):
    """assert_backward_close for each of several gradients (None where the oracle has none)."""
    assert len(got) == len(want) == len(naive) == len(labels)
    for a, b, c, label in zip(got, want, naive, labels):
        if b is None:
            assert a is None, f"{label}: expected None"
        else:
            assert_backward_close(a, b, c, dtype, label, floor)


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def gradcheck(f, args, analytic, grad_out, which=None):
    """Checks analytic[n] = d sum(grad_out * f(*args)) / d args[which[n]] by central finite
    differences in float64 (gradcheck's eps=1e-6, atol=1e-5, rtol=1e-3)."""
    from reference import numeric_grad

    which = range(len(analytic)) if which is None else which
    for i, expected in zip(which, analytic):

        def loss(value, i=i):
            a = list(args)
            a[i] = value
            return float(np.sum(grad_out * f(*a)))

        np.testing.assert_allclose(
            expected,
            numeric_grad(loss, args[i]),
            atol=1e-5,
            rtol=1e-3,
            err_msg=f"gradient of argument {i}",
        )


def read_only_strided(x):
    """A read-only, non-contiguous view with x's values (every other column of a wider array)."""
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    wide[..., ::2] = x
    view = wide[..., ::2]
    view.flags.writeable = False
    assert not view.flags.c_contiguous or view.size <= 1
    return view


def matmul_grads(grad_out, a, b):
    """(da, db) of sum(grad_out * (a @ b)) in float64, with np.matmul's 1-D promotion; each
    summed over the batch axes its operand was broadcast along."""
    from reference import reduce_to_shape

    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    g = np.asarray(grad_out, np.float64).reshape(batch + (a2.shape[-2], b2.shape[-1]))
    da = reduce_to_shape(g @ np.swapaxes(b2, -1, -2).astype(np.float64), a2.shape)
    db = reduce_to_shape(np.swapaxes(a2, -1, -2).astype(np.float64) @ g, b2.shape)
    return da.reshape(a.shape), db.reshape(b.shape)
