"""The backward pass (autograd/engine.py): accumulation, graph freeing, errors."""

import numpy as np
import pytest

import attnlab as al


def test_gradients_accumulate_over_backward_calls_and_shared_branches(rng):
    x = al.tensor(rng.standard_normal((3,)), requires_grad=True)
    y = x * x + x  # x used three times
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 4)


def test_a_tensor_reached_directly_and_through_a_longer_path_gets_both_gradients(rng):
    """x is the first operand of the root and also feeds the second (a residual connection,
    x + f(x)): x's gradient must wait for f's backward. So must an intermediate's."""
    x = al.tensor(rng.standard_normal((3,)), requires_grad=True)
    (x + (x * 3).exp()).sum().backward()
    np.testing.assert_allclose(x.grad, 1 + 3 * np.exp(3 * x.data))
    x.grad = None
    h = x * 2
    (h + (h * h).tanh()).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * (1 + 2 * h.data * (1 - np.tanh(h.data * h.data) ** 2)))


def test_leaf_grad_is_a_fresh_contiguous_array(rng):
    x = al.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = al.tensor(rng.standard_normal(3), requires_grad=True)
    (x + b).sum().backward()  # b's gradient comes from a reduction, x's from a broadcast view
    for t in (x, b):
        assert t.grad.flags.c_contiguous and t.grad.flags.writeable and t.grad.flags.owndata


@pytest.mark.parametrize("n", [5, 70_000])  # NumPy's arrays, and the core's cache's (>= 256 KiB)
def test_branch_sums_accumulate_in_place_without_aliasing(rng, n):
    """The engine sums a tensor's gradients in place once it owns the sum: Add hands the same
    array to both operands, so the first sum must not write into it, and every leaf (or
    retained) gradient must be an array of its own."""
    a = al.tensor(rng.standard_normal(n), requires_grad=True)
    w = al.tensor(rng.standard_normal(n), requires_grad=True)
    b = a * 1.0
    b.retain_grad()
    c = b + b  # both operands get the same gradient array
    loss = ((c + b + b) * 2.0 + (w + w) + (c + w)).sum()  # 10 b + 3 w
    loss.backward()
    np.testing.assert_array_equal(b.grad, np.full(n, 10.0))
    np.testing.assert_array_equal(a.grad, np.full(n, 10.0))
    np.testing.assert_array_equal(w.grad, np.full(n, 3.0))
    grads = (a.grad, b.grad, w.grad)
    for i, g in enumerate(grads):
        assert g.flags.c_contiguous and g.flags.writeable
        for other in grads[i + 1 :]:
            assert not np.shares_memory(g, other)
    a.grad += 1.0  # an optimizer's in-place update touches a's gradient alone
    np.testing.assert_array_equal(b.grad, np.full(n, 10.0))


def test_zero_dimensional_branches_sum_to_an_array():
    """NumPy sums 0-d arrays into scalars: the engine's own sums and a leaf's .grad stay
    arrays all the same."""
    x = al.tensor(np.array(1.5), requires_grad=True)
    (x * x + x + x * 3.0).backward()
    assert type(x.grad) is np.ndarray and x.grad.shape == ()
    assert x.grad == 2 * 1.5 + 1 + 3


def test_fresh_gradients_are_summed_into_and_taken_by_leaves_without_a_copy(rng):
    """A Function that declares fresh_gradients hands its arrays to the engine: a leaf takes
    one as its .grad, and later contributions are summed into it in place."""
    from attnlab.autograd.function import Function

    returned = []

    class Double(Function):
        fresh_gradients = True

        def forward(ctx, a):
            return a * 2.0

        def backward(ctx, g):
            returned.append(g * 2.0)
            return returned[-1]

    x = al.tensor(rng.standard_normal(6), requires_grad=True)
    Double.apply(x).sum().backward()
    assert x.grad is returned[0]
    np.testing.assert_array_equal(x.grad, np.full(6, 2.0))
    y = al.tensor(rng.standard_normal(6), requires_grad=True)
    (Double.apply(y) + y * 3.0).sum().backward()  # the fresh array arrives first
    np.testing.assert_array_equal(y.grad, np.full(6, 5.0))
    assert y.grad is returned[-1]


def test_non_scalar_backward_needs_grad_of_its_shape(rng):
    x = al.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(
        RuntimeError, match=r"grad can be omitted only for a one-element output, got shape \(2, 3\)"
    ):
        y.backward()
    with pytest.raises(ValueError, match=r"grad: expected the output's shape \(2, 3\), got \(3,\)"):
        y.backward(np.ones(3))
    with pytest.raises(TypeError, match="grad: dtype float32 does not match the output's float64"):
        y.backward(np.ones((2, 3), np.float32))
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))


def test_second_backward_needs_retain_graph(rng):
    x = al.tensor(rng.standard_normal(3), requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 4 * np.exp(x.data))
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_backward_without_grad_is_an_error(rng):
    x = al.tensor(rng.standard_normal(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x * 2).sum().backward()
    y = al.tensor(rng.standard_normal(3), requires_grad=True)
    with al.no_grad():
        z = (y * 2).sum()
    assert not z.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        z.backward()


def test_grad_modes_nest_and_are_per_thread():
    import threading

    assert al.is_grad_enabled()
    with al.no_grad():
        assert not al.is_grad_enabled()
        with al.enable_grad():
            assert al.is_grad_enabled()
        seen = []
        t = threading.Thread(target=lambda: seen.append(al.is_grad_enabled()))
        t.start()
        t.join()
        assert seen == [True]
    assert al.is_grad_enabled()

    @al.no_grad()
    def evaluate():
        return al.is_grad_enabled()

    assert evaluate() is False and al.is_grad_enabled()
    with al.set_grad_enabled(False):
        assert not al.is_grad_enabled()
    assert al.is_grad_enabled()


def test_retain_grad_keeps_an_intermediate_gradient(rng):
    x = al.tensor(rng.standard_normal(3), requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad, 2 * y.data)
    np.testing.assert_allclose(x.grad, 8 * x.data)


def test_deep_graph_does_not_recurse(rng):
    x = al.tensor(rng.standard_normal(2), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones(2))
