"""The building blocks' float64 backward oracles (tests/reference_blocks.py) against central
finite differences of their own forward oracles, independently of attnlab.

The kernel tests trust these formulas, so each is checked here at gradcheck's tolerances
(eps=1e-6, atol=1e-5, rtol=1e-3), including rows of length 0 and 1 and every option.
"""

import numpy as np
import pytest

import reference_blocks as ref
from reference import numeric_grad


def fd(f, x, g):
    """d sum(g * f(x)) / dx by central differences."""
    return numeric_grad(lambda value: float(np.sum(g * f(value))), x)


def assert_fd(analytic, numeric, label=""):
    np.testing.assert_allclose(analytic, numeric, atol=1e-5, rtol=1e-3, err_msg=label)


@pytest.fixture
def rng():
    return np.random.default_rng(5)


@pytest.mark.parametrize("n", [1, 2, 7])
@pytest.mark.parametrize("with_weight", [False, True], ids=["", "weight"])
def test_layer_norm_backward(rng, n, with_weight):
    x, g = rng.standard_normal((3, n)), rng.standard_normal((3, n))
    w = rng.standard_normal(n) if with_weight else None
    b = rng.standard_normal(n)
    dx, dw, db = ref.layer_norm_backward(g, x, 1, w, eps=1e-5)
    assert_fd(dx, fd(lambda v: ref.layer_norm(v, 1, w, b, 1e-5), x, g), "dx")
    assert_fd(db, fd(lambda v: ref.layer_norm(x, 1, w, v, 1e-5), b, g), "dbias")
    if with_weight:
        assert_fd(dw, fd(lambda v: ref.layer_norm(x, 1, v, b, 1e-5), w, g), "dweight")
    else:
        assert dw is None


def test_layer_norm_backward_over_two_axes(rng):
    x, g, w = (
        rng.standard_normal((2, 3, 4)),
        rng.standard_normal((2, 3, 4)),
        rng.standard_normal((3, 4)),
    )
    dx, dw, db = ref.layer_norm_backward(g, x, 2, w)
    assert_fd(dx, fd(lambda v: ref.layer_norm(v, 2, w), x, g), "dx")
    assert_fd(dw, fd(lambda v: ref.layer_norm(x, 2, v), w, g), "dweight")
    np.testing.assert_allclose(db, g.sum(axis=0))


@pytest.mark.parametrize("n", [1, 2, 7])
@pytest.mark.parametrize("with_weight", [False, True], ids=["", "weight"])
def test_rms_norm_backward(rng, n, with_weight):
    x, g = rng.standard_normal((3, n)), rng.standard_normal((3, n))
    w = rng.standard_normal(n) if with_weight else None
    dx, dw = ref.rms_norm_backward(g, x, 1, w, eps=1e-6)
    assert_fd(dx, fd(lambda v: ref.rms_norm(v, 1, w, 1e-6), x, g), "dx")
    if with_weight:
        assert_fd(dw, fd(lambda v: ref.rms_norm(x, 1, v, 1e-6), w, g), "dweight")
    else:
        assert dw is None


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_backward(rng, name, axis):
    forward, backward = getattr(ref, name), getattr(ref, f"{name}_backward")
    x, g = rng.standard_normal((4, 6)) * 3, rng.standard_normal((4, 6))
    assert_fd(backward(g, x, axis), fd(lambda v: forward(v, axis), x, g))


ACTIVATIONS = {
    "relu": (ref.relu, ref.relu_backward),
    "silu": (ref.silu, ref.silu_backward),
    "gelu": (ref.gelu, ref.gelu_backward),
    "gelu_tanh": (lambda x: ref.gelu(x, "tanh"), lambda g, x: ref.gelu_backward(g, x, "tanh")),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward(rng, name):
    forward, backward = ACTIVATIONS[name]
    x = np.concatenate([np.linspace(-9, 9, 37), rng.standard_normal(20) * 3])
    x = x[np.abs(x) > 1e-3]  # relu's kink is not differentiable
    g = rng.standard_normal(x.shape)
    assert_fd(backward(g, x), fd(forward, x, g))


def test_relu_backward_is_zero_at_the_kink_and_for_nan():
    np.testing.assert_array_equal(ref.relu_backward(np.ones(3), [0.0, np.nan, 2.0]), [0, 0, 1])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (6,)], ids=str)
def test_cross_entropy_backward(rng, reduction, smoothing, shape):
    logits = rng.standard_normal(shape) * 2
    axis = 0 if len(shape) == 1 else 1
    tshape = shape[:axis] + shape[axis + 1 :]
    target = rng.integers(0, shape[axis], size=tshape)
    if target.size > 1:
        target.reshape(-1)[::2] = 2  # ignore_index=2 is also a valid class
    opts = dict(ignore_index=2, label_smoothing=smoothing, reduction=reduction)
    g = rng.standard_normal(tshape) if reduction == "none" else 0.7
    dl = ref.cross_entropy_backward(g, logits, target, **opts)
    assert_fd(dl, fd(lambda v: ref.cross_entropy(v, target, **opts), logits, g))
    np.testing.assert_array_equal(np.moveaxis(dl, axis, -1)[target == 2], 0)


def test_cross_entropy_backward_all_ignored_is_zero(rng):
    logits = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(ref.cross_entropy_backward(1.0, logits, np.full(3, -100)), 0)


def test_empty_rows_give_empty_gradients():
    x = np.zeros((3, 0))
    for grads in (
        ref.layer_norm_backward(x, x, 1, np.zeros(0)),
        ref.rms_norm_backward(x, x, 1),
        (ref.softmax_backward(x, x), ref.log_softmax_backward(x, x)),
    ):
        assert all(gr.shape in ((3, 0), (0,)) for gr in grads if gr is not None)
    _, _, db = ref.layer_norm_backward(np.zeros((0, 4)), np.zeros((0, 4)), 1)
    np.testing.assert_array_equal(db, np.zeros(4))


def test_dtype_selects_the_evaluation_type(rng):
    """dtype=float32 evaluates in float32 (the naive error the tolerances use), close to float64."""
    x = rng.standard_normal((2, 9)).astype(np.float32)
    grads = {
        "layer_norm": lambda dt: ref.layer_norm_backward(x, x, 1, x[0], dtype=dt)[0],
        "rms_norm": lambda dt: ref.rms_norm_backward(x, x, 1, x[0], dtype=dt)[0],
        "softmax": lambda dt: ref.softmax_backward(x, x, dtype=dt),
        "log_softmax": lambda dt: ref.log_softmax_backward(x, x, dtype=dt),
        "relu": lambda dt: ref.relu_backward(x, x, dtype=dt),
        "silu": lambda dt: ref.silu_backward(x, x, dtype=dt),
        "gelu": lambda dt: ref.gelu_backward(x, x, dtype=dt),
        "gelu_tanh": lambda dt: ref.gelu_backward(x, x, "tanh", dtype=dt),
        "cross_entropy": lambda dt: ref.cross_entropy_backward(1.0, x, np.array([1, 3]), dtype=dt),
    }
    for name, grad in grads.items():
        single, double = grad(np.float32), grad(np.float64)
        assert single.dtype == np.float32 and double.dtype == np.float64, name
        np.testing.assert_allclose(single, double, atol=1e-5, rtol=1e-5, err_msg=name)
