"""The Tensor path of the building blocks (functional/linear.py, norm.py, activation.py,
softmax.py, dropout.py, embedding.py, loss.py, positional.py): gradients of every option by
finite differences in float64, the same values as the array path."""

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import gradcheck

F = al.functional


def leaf(rng, *shape):
    return al.tensor(np.asarray(rng.standard_normal(shape)), requires_grad=True)


def test_linear(rng):
    x, w, b = leaf(rng, 2, 3, 5), leaf(rng, 4, 5), leaf(rng, 4)
    np.testing.assert_array_equal(F.linear(x, w, b).data, F.linear(x.data, w.data, b.data))
    assert gradcheck(F.linear, (x, w, b))
    assert gradcheck(F.linear, (x, w))


def test_linear_skips_the_gradients_nobody_needs(rng):
    x = al.tensor(rng.standard_normal((3, 5)))  # a first layer's input
    w = leaf(rng, 4, 5)
    b = al.tensor(rng.standard_normal(4))
    F.linear(x, w, b).sum().backward()
    assert x.grad is None and b.grad is None
    np.testing.assert_allclose(w.grad, np.ones((3, 4)).T @ x.data)


@pytest.mark.parametrize("normalized", [5, (4, 5)])
def test_norms(rng, normalized):
    x = leaf(rng, 3, 4, 5)
    shape = (normalized,) if isinstance(normalized, int) else normalized
    w, b = leaf(rng, *shape), leaf(rng, *shape)
    assert gradcheck(lambda a, c, d: F.layer_norm(a, normalized, c, d), (x, w, b))
    assert gradcheck(lambda a: F.layer_norm(a, normalized), x)
    assert gradcheck(lambda a, c: F.rms_norm(a, normalized, c, eps=1e-6), (x, w))
    np.testing.assert_array_equal(
        F.layer_norm(x, normalized, w, b).data, F.layer_norm(x.data, normalized, w.data, b.data)
    )


@pytest.mark.parametrize("op", ["relu", "silu", "gelu", "gelu_tanh"])
def test_activations(rng, op):
    x = leaf(rng, 4, 9)
    fn = {
        "relu": F.relu,
        "silu": F.silu,
        "gelu": F.gelu,
        "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    }[op]
    np.testing.assert_array_equal(fn(x).data, fn(x.data))
    assert gradcheck(fn, x)
    assert gradcheck(lambda t: fn(t.T), x)  # a non-contiguous view


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(rng, axis):
    x = leaf(rng, 3, 4, 5)
    assert gradcheck(lambda t: F.softmax(t, axis), x)
    assert gradcheck(lambda t: F.log_softmax(t, axis), x)
    assert gradcheck(lambda t: t.softmax(axis), x)
    np.testing.assert_array_equal(x.log_softmax(axis).data, F.log_softmax(x.data, axis))


def test_dropout(rng):
    x = leaf(rng, 5, 6)
    assert gradcheck(lambda t: F.dropout(t, 0.4, seed=3), x)
    np.testing.assert_array_equal(F.dropout(x, 0.4, seed=3).data, F.dropout(x.data, 0.4, seed=3))
    assert F.dropout(x, 0.4, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_embedding_and_relative_position_bias(rng):
    weight = leaf(rng, 6, 3)
    idx = np.array([[0, 2, 2], [5, 1, 0]])
    assert gradcheck(lambda w: F.embedding(idx, w), weight)
    # padding_idx's row gets no gradient (as in PyTorch), though it does change the output
    F.embedding(al.tensor(idx), weight, padding_idx=2).sum().backward()
    np.testing.assert_array_equal(
        weight.grad, F.embedding_backward(np.ones((2, 3, 3)), idx, weight.data, padding_idx=2)
    )
    np.testing.assert_array_equal(weight.grad[2], 0)
    table = leaf(rng, 8, 2)
    buckets = F.relative_position_bucket(4, 5, num_buckets=8, max_distance=6)
    assert gradcheck(lambda t: F.relative_position_bias(t, buckets), table)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy(rng, reduction, smoothing):
    logits = leaf(rng, 6, 5)
    target = np.array([0, 4, -100, 2, 2, 1])
    fn = lambda t: F.cross_entropy(t, target, label_smoothing=smoothing, reduction=reduction)  # noqa: E731
    np.testing.assert_array_equal(
        fn(logits).data,
        F.cross_entropy(logits.data, target, label_smoothing=smoothing, reduction=reduction),
    )
    assert gradcheck(fn, logits)
    spatial = leaf(rng, 2, 5, 3)  # (N, C, d1)
    assert gradcheck(
        lambda t: F.cross_entropy(t, np.array([[0, 1, 4], [3, -100, 2]]), reduction=reduction),
        spatial,
    )


@pytest.mark.parametrize(
    "options",
    [{}, dict(interleaved=True), dict(rotary_dim=2), dict(positions=np.array([3, 1, 4, 1]))],
)
def test_rope(rng, options):
    x = leaf(rng, 2, 4, 6)
    assert gradcheck(lambda t: F.rope(t, **options), x)
    np.testing.assert_array_equal(F.rope(x, **options).data, F.rope(x.data, **options))


def test_int_tensor_where_floats_are_needed_is_named():
    ints = al.tensor(np.arange(6).reshape(2, 3))
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64, got int64"):
        F.relu(ints)
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64, got int64"):
        F.linear(ints, al.tensor(np.ones((2, 3))))
    with pytest.raises(TypeError, match="q: expected dtype float32 or float64, got int64"):
        F.scaled_dot_product_attention(ints, ints, ints)


@pytest.mark.parametrize(
    "shapes",
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 5)),
        ((4,), (4, 2)),
        ((2, 1, 3, 4), (3, 4, 2)),
        ((3, 4), (4,)),
    ],
)
def test_matmul_and_the_at_operator(rng, shapes):
    a, b = leaf(rng, *shapes[0]), leaf(rng, *shapes[1])
    np.testing.assert_allclose((a @ b).data, a.data @ b.data, rtol=1e-12)
    assert gradcheck(lambda x, y: x @ y, (a, b))
    assert gradcheck(lambda x: x @ b.data, a)  # an ndarray on the right
    assert gradcheck(lambda y: a.data @ y, b)  # and on the left (ndarray.__matmul__ defers)
