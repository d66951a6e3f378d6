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
