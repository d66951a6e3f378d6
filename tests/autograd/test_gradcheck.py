"""gradcheck (autograd/gradcheck.py) finds wrong gradients and refuses what it cannot check."""

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import Function, GradcheckError, gradcheck


class WrongSquare(Function):
    def forward(ctx, x):
        ctx.x = x
        return x * x

    def backward(ctx, g):
        return g * ctx.x  # should be 2 x


def test_gradcheck_catches_a_wrong_backward(rng):
    x = al.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"inputs\[0\] \(3, 2\): 6 of 6 gradients differ"):
        gradcheck(WrongSquare.apply, x)
    assert gradcheck(WrongSquare.apply, x, raise_exception=False) is False
    assert gradcheck(lambda t: t * t, x)


def test_gradcheck_leaves_the_inputs_as_they_were(rng):
    x = al.tensor(rng.standard_normal(4), requires_grad=True)
    before = x.data.copy()
    x.grad = np.full(4, 7.0)
    gradcheck(lambda t: t.exp(), x)
    np.testing.assert_array_equal(x.data, before)
    np.testing.assert_array_equal(x.grad, np.full(4, 7.0))


def test_gradcheck_needs_float64_inputs_that_require_grad(rng):
    with pytest.raises(
        TypeError, match=r"inputs\[0\]: finite differences need float64, got float32"
    ):
        gradcheck(lambda t: t * 2, al.tensor(np.ones(2, np.float32), requires_grad=True))
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda t: t * 2, al.tensor(np.ones(2)))
