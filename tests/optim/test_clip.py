"""clip_grad_norm_ against torch.nn.utils.clip_grad_norm_, and its argument checks."""

import math

import numpy as np
import pytest

import attnlab as al
from optim_samples import SHAPES, random_params

clip = al.optim.clip_grad_norm_


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_matches_torch(torch, dtype, norm_type, max_norm):
    """Against torch in float64: torch sums float32 norms in float32 (1.6e-6 off the exact 1-norm
    here), attnlab in float64."""
    rng = np.random.default_rng(5)
    params = random_params(rng, SHAPES, dtype)
    for p in params:
        p.grad = rng.standard_normal(p.data.shape).astype(dtype)
    params[1].grad = None  # skipped, as torch skips it
    theirs = [torch.tensor(p.data, dtype=torch.float64) for p in params]
    for p, q in zip(params, theirs):
        q.grad = None if p.grad is None else torch.from_numpy(p.grad.astype(np.float64))
    total = clip(params, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, np.floating) and total.dtype == dtype
    np.testing.assert_allclose(total, expected.item(), rtol=1e-6)
    for p, q in zip(params, theirs):
        if p.grad is None:
            assert q.grad is None
        else:
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-6, atol=1e-12)


def test_clips_to_max_norm_in_place(make_param):
    p = make_param(np.zeros(2))
    grad = np.array([3.0, 4.0])
    p.grad = grad
    assert clip(p, 1.0) == 5.0  # a single parameter is accepted, as torch
    assert p.grad is grad
    np.testing.assert_allclose(grad, [0.6, 0.8], rtol=1e-6)
    assert clip([p], 10.0) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(grad, [0.6, 0.8], rtol=1e-6)  # below max_norm: unchanged


def test_no_grads_gives_zero(make_param):
    total = clip([make_param(np.ones(3))], 1.0)
    assert total == 0 and total.dtype == np.float32


def test_nonfinite_total(make_param):
    p = make_param(np.zeros(2))
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="total norm of order 2.0 .* is non-finite"):
        clip([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad, [np.inf, 1.0])
    assert clip([p], 1.0) == np.inf  # scaled by 0, as torch: inf * 0 is NaN
    assert np.isnan(p.grad[0]) and p.grad[1] == 0


@pytest.mark.parametrize(
    "args, error, match",
    [
        (
            (None, 1.0),
            TypeError,
            "parameters: expected a parameter or an iterable of parameters, got NoneType",
        ),
        (([np.ones(2)], 1.0), TypeError, r"parameters\[0\]: expected a parameter"),
        (("P", "x"), TypeError, "max_norm: expected a real number, got str"),
        (("P", 1.0, 0), ValueError, "norm_type: expected a number > 0 or inf, got 0.0"),
        (("P", 1.0, "two"), TypeError, "norm_type: expected a number or 'inf', got 'two'"),
        (
            ("I", 1.0),
            TypeError,
            r"parameters\[0\]\.grad: expected a float32 or float64 array, got "
            "int64",
        ),
    ],
)
def test_bad_input(make_param, args, error, match):
    p = make_param(np.ones(2))
    p.grad = np.ones(2, np.int64) if args[0] == "I" else np.ones(2)
    first = [p] if args[0] in ("P", "I") else args[0]
    with pytest.raises(error, match=match):
        clip(first, *args[1:])
