"""The Tensor's own operations (autograd/ops.py): values as NumPy's, gradients by finite
differences in float64, broadcast operands' gradients reduced to their shapes."""

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import gradcheck


def leaf(rng, *shape, positive=False):
    x = np.asarray(rng.standard_normal(shape))
    if positive:
        x = np.abs(x) + 0.5
    return al.tensor(x, requires_grad=True)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize(
    "shapes",
    [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((2, 1, 4), (3, 1)), ((), (3,))],
)
def test_binary_ops_match_numpy_and_gradcheck_with_broadcasting(rng, name, shapes):
    op = BINARY[name]
    a, b = leaf(rng, *shapes[0], positive=True), leaf(rng, *shapes[1], positive=True)
    out = op(a, b)
    np.testing.assert_array_equal(out.data, op(a.data, b.data))
    assert gradcheck(op, (a, b))
    op(a, b).sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_large_binary_results_equal_numpys(rng, name, dtype):
    """Same-shape float operands of 256 KiB and up get their result from the core's cache
    (a residual sum); the values, dtype and writability are NumPy's, and each call's result
    is an array of its own."""
    a, b = (np.asarray(rng.integers(1, 9, (300, 257))).astype(dtype) for _ in range(2))
    op = BINARY[name]
    first = op(al.tensor(a), al.tensor(b)).data
    second = op(al.tensor(a), al.tensor(b)).data
    want = op(a, b)
    assert first.dtype == want.dtype and first.flags.writeable and first.flags.c_contiguous
    np.testing.assert_array_equal(first, want)
    assert not np.shares_memory(first, second)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_with_python_numbers_on_either_side(rng, name):
    op = BINARY[name]
    a = leaf(rng, 3, 5, positive=True)
    assert gradcheck(lambda x: op(x, 1.5), a)
    assert gradcheck(lambda x: op(2.5, x), a)
    assert op(a.float(), 2.0).dtype == np.float32  # a Python number never widens the dtype


UNARY = {
    "neg": (lambda x: -x, lambda x: -x, False),
    "exp": (lambda x: x.exp(), np.exp, False),
    "log": (lambda x: x.log(), np.log, True),
    "tanh": (lambda x: x.tanh(), np.tanh, False),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, True),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), False),
    "abs": (lambda x: x.abs(), np.abs, False),
    "square": (lambda x: x**2, np.square, False),
    "rsqrt": (lambda x: x**-0.5, lambda x: x**-0.5, True),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), False),
    "clamp_min": (lambda x: x.clamp(min=0.1), lambda x: np.maximum(x, 0.1), False),
    "rpow": (lambda x: 2.0**x, lambda x: 2.0**x, False),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops(rng, name):
    op, oracle, positive = UNARY[name]
    x = leaf(rng, 4, 7, positive=positive)
    np.testing.assert_allclose(op(x).data, oracle(x.data), rtol=1e-12, atol=1e-15)
    assert gradcheck(op, x)


def test_sigmoid_of_huge_values_is_finite():
    x = al.tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4]), requires_grad=True)
    y = x.sigmoid()
    assert np.all(np.isfinite(y.data))
    np.testing.assert_allclose(y.data, [0, 1 / (1 + np.exp(50.0)), 0.5, 1 / (1 + np.exp(-50.0)), 1])


REDUCTIONS = {
    "sum": lambda x, **kw: x.sum(**kw),
    "mean": lambda x, **kw: x.mean(**kw),
    "max": lambda x, **kw: x.max(**kw),
    "min": lambda x, **kw: x.min(**kw),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(rng, name, axis, keepdims):
    op = REDUCTIONS[name]
    x = leaf(rng, 3, 4, 5)
    want = getattr(np, name)(x.data, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(op(x, axis=axis, keepdims=keepdims).data, want, rtol=1e-12)
    assert gradcheck(lambda t: op(t, axis=axis, keepdims=keepdims), x)


def test_max_shares_the_gradient_among_ties():
    x = al.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])


SHAPES = {
    "reshape": lambda x: x.reshape(6, 10),
    "reshape_infer": lambda x: x.reshape(-1, 5),
    "flatten": lambda x: x.flatten(1),
    "permute": lambda x: x.permute(2, 0, 1),
    "transpose": lambda x: x.transpose(0, 2),
    "swapaxes": lambda x: x.swapaxes(1, 2),
    "T": lambda x: x.T,
    "mT": lambda x: x.mT,
    "unsqueeze": lambda x: x.unsqueeze(1),
    "squeeze": lambda x: x.unsqueeze(0).squeeze(0),
    "expand": lambda x: x[:, :1].expand(3, 4, 5),
    "slice": lambda x: x[1:, ::2, -1],
    "int_index": lambda x: x[np.array([0, 2, 0]), 1],
    "bool_index": lambda x: x[x.data > 0],
    "ellipsis": lambda x: x[..., None, 1],
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_ops(rng, name):
    x = leaf(rng, 3, 4, 5)
    assert gradcheck(SHAPES[name], x)


def test_repeated_integer_index_adds_its_gradients(rng):
    x = leaf(rng, 4, 2)
    x[np.array([1, 1, 3])].sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0], [2, 2], [0, 0], [1, 1]])


def test_cat_stack_where_masked_fill(rng):
    a, b = leaf(rng, 2, 3), leaf(rng, 4, 3)
    np.testing.assert_array_equal(al.cat([a, b]).data, np.concatenate([a.data, b.data]))
    assert gradcheck(lambda x, y: al.cat([x, y], axis=0), (a, b))
    c, d = leaf(rng, 2, 3), leaf(rng, 2, 3)
    np.testing.assert_array_equal(al.stack([c, d], axis=1).data, np.stack([c.data, d.data], 1))
    assert gradcheck(lambda x, y: al.stack([x, y], axis=-1), (c, d))
    cond = rng.random((2, 3)) > 0.5
    np.testing.assert_array_equal(al.where(cond, c, d).data, np.where(cond, c.data, d.data))
    assert gradcheck(lambda x, y: al.where(cond, x, y), (c, d))
    assert gradcheck(lambda x: al.where(cond[:1], x, 0.0), c)
    mask = rng.random((1, 3)) > 0.5
    np.testing.assert_array_equal(c.masked_fill(mask, -9.0).data, np.where(mask, -9.0, c.data))
    assert gradcheck(lambda x: x.masked_fill(mask, -9.0), c)


def test_casts_keep_the_graph_and_cast_gradients_back(rng):
    x = leaf(rng, 3, 3)
    y = x.float()
    assert y.dtype == np.float32 and y.requires_grad
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, np.full((3, 3), 2.0))
    assert x.double() is x


def test_comparisons_give_bool_tensors_without_grad(rng):
    x = leaf(rng, 5)
    for result in (x > 0, x < 0, x >= 0, x <= 0, x == x, x != 0, ~(x > 0), (x > 0) & (x < 1)):
        assert result.dtype == np.bool_ and not result.requires_grad
    np.testing.assert_array_equal((x > 0).data, x.data > 0)


def test_bad_arguments_are_named():
    x = al.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(TypeError, match="other: dtype float32 does not match the tensor's float64"):
        x + np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match="other: dtype float32"):
        x * al.tensor(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="other: expected a Tensor, an ndarray or a number"):
        x + "a"
    with pytest.raises(
        ValueError, match=r"shape: cannot reshape a tensor of shape \(2, 3\) into \(4,\)"
    ):
        x.reshape(4)
    with pytest.raises(ValueError, match="axes: .* is not a permutation"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match="axis: 2 is out of range for a tensor of 2 dimensions"):
        x.sum(axis=2)
    with pytest.raises(TypeError, match="axis: expected an int"):
        x.sum(axis=1.0)
    with pytest.raises(TypeError, match="mask: expected a bool array"):
        x.masked_fill(np.ones((2, 3)), 0.0)
    with pytest.raises(TypeError, match="condition: expected a bool array"):
        al.where(np.ones(3), x, x)
    with pytest.raises(TypeError, match=r"tensors: mixed dtypes"):
        al.cat([x, x.float()])
    with pytest.raises(ValueError, match="tensors: expected at least one tensor"):
        al.stack([])
    with pytest.raises(ValueError, match="clamp: give min, max or both"):
        x.clamp()
