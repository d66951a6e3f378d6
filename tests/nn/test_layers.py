"""The basic layers (nn/linear.py, embedding.py, normalization.py, dropout.py,
activation.py): torch.nn's names and defaults, the torch module's state_dict loads and gives
the same outputs and gradients, and gradcheck in float64."""

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import gradcheck

nn = al.nn


def to_numpy(sd):
    return {k: v.detach().numpy().copy() for k, v in sd.items()}


CASES = {
    "Linear": (lambda: nn.Linear(5, 3), lambda t: t.nn.Linear(5, 3), (2, 4, 5)),
    "Linear_no_bias": (
        lambda: nn.Linear(5, 3, bias=False),
        lambda t: t.nn.Linear(5, 3, bias=False),
        (4, 5),
    ),
    "LayerNorm": (lambda: nn.LayerNorm(5), lambda t: t.nn.LayerNorm(5), (3, 4, 5)),
    "LayerNorm_2d": (lambda: nn.LayerNorm((4, 5)), lambda t: t.nn.LayerNorm((4, 5)), (3, 4, 5)),
    "RMSNorm": (lambda: nn.RMSNorm(5, eps=1e-6), lambda t: t.nn.RMSNorm(5, eps=1e-6), (3, 5)),
    "GELU": (lambda: nn.GELU(), lambda t: t.nn.GELU(), (3, 5)),
    "GELU_tanh": (lambda: nn.GELU("tanh"), lambda t: t.nn.GELU("tanh"), (3, 5)),
    "ReLU": (lambda: nn.ReLU(), lambda t: t.nn.ReLU(), (3, 5)),
    "SiLU": (lambda: nn.SiLU(), lambda t: t.nn.SiLU(), (3, 5)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_with_its_state_dict(torch, rng, name):
    ours, theirs, shape = CASES[name]
    m, t = ours(), theirs(torch)
    with torch.no_grad():  # non-trivial affine parameters
        for p in t.parameters():
            p.copy_(torch.randn_like(p))
    assert sorted(m.state_dict()) == sorted(t.state_dict())
    m.load_state_dict(to_numpy(t.state_dict()))
    x = rng.standard_normal(shape).astype(np.float32)
    xa, xt = al.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = rng.standard_normal(t(xt).shape).astype(np.float32)
    out, ref = m(xa), t(xt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=1e-5, rtol=1e-5)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(xa.grad, xt.grad.numpy(), atol=1e-4, rtol=1e-4)
    grads = dict(m.named_parameters())
    for k, p in t.named_parameters():
        np.testing.assert_allclose(grads[k].grad, p.grad.numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_float64(rng, name):
    m = CASES[name][0]().double()
    x = al.tensor(rng.standard_normal(CASES[name][2]), requires_grad=True)
    params = list(m.parameters())
    for p in params:
        p.data[...] = rng.standard_normal(p.shape)

    def run(x, *ps):
        return m(x)

    assert gradcheck(run, (x, *params))


def test_embedding_matches_torch(torch, rng):
    t = torch.nn.Embedding(7, 3, padding_idx=1)
    m = nn.Embedding(7, 3, padding_idx=1)
    m.load_state_dict(to_numpy(t.state_dict()))
    idx = rng.integers(0, 7, (2, 5))
    out = m(idx)
    ref = t(torch.tensor(idx))
    np.testing.assert_array_equal(out.data, ref.detach().numpy())
    g = rng.standard_normal((2, 5, 3)).astype(np.float32)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(m.weight.grad, t.weight.grad.numpy(), atol=1e-6)
    assert not nn.Embedding(4, 2, padding_idx=-1).weight.data[3].any()


def test_default_initialization_follows_torch():
    al.manual_seed(0)
    lin = nn.Linear(100, 50)
    bound = 1 / np.sqrt(100)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.weight.data).max() > 0.9 * bound
    emb = nn.Embedding(1000, 10)
    assert abs(emb.weight.data.std() - 1) < 0.05
    norm = nn.LayerNorm(4)
    assert (norm.weight.data == 1).all() and (norm.bias.data == 0).all()


def test_dropout_is_identity_in_eval_and_scales_in_training(rng):
    d = nn.Dropout(0.5)
    x = al.tensor(np.ones((100, 100), np.float32), requires_grad=True)
    y = d(x)
    kept = y.data != 0
    assert 0.45 < kept.mean() < 0.55 and np.all(y.data[kept] == 2)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * kept)
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError, match=r"p: expected 0 <= p < 1, got 1.0"):
        nn.Dropout(1.0)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: nn.Linear(4, 2, bias="no"), TypeError, "bias: expected a bool, got str"),
        (lambda: nn.Linear(-1, 2), ValueError, "in_features: expected a size >= 0, got -1"),
        (lambda: nn.LayerNorm(4, eps=0.0), ValueError, "eps: expected a number > 0, got 0.0"),
        (lambda: nn.LayerNorm(4, eps=float("nan")), ValueError, "eps: expected a finite number"),
        (
            lambda: nn.LayerNorm(4, elementwise_affine=1),
            TypeError,
            "elementwise_affine: expected a bool, got int",
        ),
        (lambda: nn.LayerNorm(4, bias=None), TypeError, "bias: expected a bool, got NoneType"),
        (lambda: nn.RMSNorm(4, eps=-1e-6), ValueError, "eps: expected a number > 0"),
        (
            lambda: nn.RMSNorm(4, elementwise_affine="yes"),
            TypeError,
            "elementwise_affine: expected a bool, got str",
        ),
        (
            lambda: nn.Embedding(4, 2, padding_idx=1.5),
            TypeError,
            "padding_idx: expected an int, got float",
        ),
        (
            lambda: nn.Embedding(4, 2, padding_idx=4),
            ValueError,
            r"padding_idx: expected an int in \[-4, 4\)",
        ),
    ],
)
def test_constructor_errors_name_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()
