"""float64 NumPy oracles for the building blocks (norms, activations, softmax, losses,
embedding, positional encodings). Written for clarity, not speed: loops where they make the
definition obvious."""

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


def rms_norm(x, k, weight=None, eps=None):
    x = np.asarray(x, dtype=np.float64)
    eps = np.finfo(np.float64).eps if eps is None else eps
    axes = tuple(range(x.ndim - k, x.ndim))
    y = x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    return y if weight is None else y * np.asarray(weight, dtype=np.float64)


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x, approximate="none"):
    x = np.asarray(x, dtype=np.float64)
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def relu(x):
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def silu(x):
    x = np.asarray(x, dtype=np.float64)
    return x * np.exp(-np.logaddexp(0.0, -x))  # x * sigmoid(x) without overflow


def log_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def softmax(x, axis=-1):
    return np.exp(log_softmax(x, axis))


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
            rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
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

        np.testing.assert_allclose(expected, numeric_grad(loss, args[i]), atol=1e-5, rtol=1e-3,
                                   err_msg=f"gradient of argument {i}")


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
