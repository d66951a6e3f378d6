"""attnlab.Tensor (tensor.py): construction, array facts, memory sharing, errors."""

import numpy as np
import pytest

import attnlab as al


def test_tensor_copies_and_from_numpy_shares():
    a = np.arange(6.0).reshape(2, 3)
    t = al.tensor(a)
    a[0, 0] = 100
    assert t.data[0, 0] == 0
    s = al.from_numpy(a)
    a[0, 1] = 7
    assert s.data[0, 1] == 7 and s.numpy() is a


def test_python_data_gets_pytorch_default_dtypes():
    assert al.tensor([1.0, 2.0]).dtype == np.float32
    assert al.tensor([1, 2]).dtype == np.int64
    assert al.tensor(np.array([1.0])).dtype == np.float64
    assert al.tensor([1.0], dtype=np.float64).dtype == np.float64


def test_array_facts():
    t = al.tensor(np.zeros((2, 3, 4)), requires_grad=True)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.size == 24 and len(t) == 2
    assert t.dtype == np.float64 and t.is_leaf
    assert np.asarray(t) is t.data
    assert al.tensor([[3.5]]).item() == 3.5
    assert al.tensor([1, 2]).tolist() == [1, 2]
    d = (t * 2).detach()
    assert not d.requires_grad and d.is_leaf
    assert "requires_grad=True" in repr(t) and "grad_fn=Mul" in repr(t * 2)


def test_bad_data_and_flags_are_named():
    with pytest.raises(
        TypeError, match="data: expected float32, float64, integer or bool data, got dtype float16"
    ):
        al.tensor(np.zeros(2, np.float16))
    with pytest.raises(
        TypeError,
        match="data: expected float32, float64, integer or bool data, got dtype complex128",
    ):
        al.tensor(np.zeros(2, complex))
    with pytest.raises(TypeError, match="data: expected a NumPy array"):
        al.Tensor([1.0, 2.0])
    with pytest.raises(
        TypeError,
        match="requires_grad: only float32 and float64 tensors can require gradients, "
        "got dtype int64",
    ):
        al.tensor(np.arange(3), requires_grad=True)
    with pytest.raises(TypeError, match="requires_grad: expected a bool"):
        al.Tensor(np.zeros(2), requires_grad=1)
    with pytest.raises(ValueError, match="item: only a one-element tensor"):
        al.tensor(np.zeros(2)).item()
    with pytest.raises(ValueError, match="truth value of a tensor of shape"):
        bool(al.tensor(np.zeros(2)))


# A scalar on either side of an operator: never a wider dtype than the tensor's, as in PyTorch
# (``emb(x) * np.sqrt(d)`` stays float32).
SCALARS = [2.5, 2, np.float64(2.5), np.float32(2.5), np.float16(2.5), np.int64(2), np.bool_(1)]
SCALAR_OPS = {
    "add": lambda x, s: x + s,
    "radd": lambda x, s: s + x,
    "sub": lambda x, s: x - s,
    "rsub": lambda x, s: s - x,
    "mul": lambda x, s: x * s,
    "rmul": lambda x, s: s * x,
    "div": lambda x, s: x / s,
    "rdiv": lambda x, s: s / x,
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scalar", SCALARS, ids=lambda s: f"{type(s).__name__}")
@pytest.mark.parametrize("name", sorted(SCALAR_OPS))
def test_a_scalar_keeps_the_tensors_dtype_forward_and_backward(dtype, scalar, name):
    op = SCALAR_OPS[name]
    x = al.tensor(np.linspace(0.5, 3.0, 6, dtype=dtype).reshape(2, 3), requires_grad=True)
    out = op(x, scalar)
    assert out.dtype == dtype
    plain = scalar.item() if isinstance(scalar, np.generic) else scalar
    np.testing.assert_array_equal(out.data, op(x.data, plain))
    out.sum().backward()
    assert x.grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scalar", [np.float64(0.5), np.float32(0.5), np.int64(2)])
def test_numpy_scalars_in_pow_clamp_and_where_keep_the_dtype(dtype, scalar):
    x = al.tensor(np.linspace(0.5, 3.0, 6, dtype=dtype), requires_grad=True)
    outs = [x**scalar, scalar**x, x.clamp(scalar, 2 * scalar), al.where(x.data > 1, x, scalar)]
    for out in outs:
        assert out.dtype == dtype
    sum(o.sum() for o in outs).backward()
    assert x.grad.dtype == dtype


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scalar", SCALARS, ids=lambda s: f"{type(s).__name__}")
def test_scalar_results_match_torch(dtype, scalar):
    import torch

    x = np.linspace(0.5, 3.0, 6, dtype=dtype).reshape(2, 3)
    for name, op in SCALAR_OPS.items():
        ours = op(al.tensor(x), scalar).data
        theirs = op(torch.from_numpy(x), scalar).numpy()
        assert ours.dtype == theirs.dtype, name
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, err_msg=name)


def test_arrays_and_unsupported_scalars_are_not_cast():
    x = al.tensor(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="other: dtype float64 does not match the tensor's float32"):
        x * np.array(2.0)  # a 0-d array is an array: its dtype must match
    with pytest.raises(TypeError, match="other: dtype int64 does not match the tensor's float32"):
        x + np.array(2)
    with pytest.raises(TypeError, match="other: expected a Tensor, an ndarray or a number, got"):
        x * np.complex128(1j)
    with pytest.raises(TypeError, match="other: expected a Tensor, an ndarray or a number, got"):
        x * 1j
    with pytest.raises(TypeError, match="min: expected a number, got str"):
        x.clamp("0")
    with pytest.raises(TypeError, match="max: expected a number, got complex128"):
        x.clamp(max=np.complex128(1))
