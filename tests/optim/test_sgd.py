"""attnlab.optim.SGD against torch.optim.SGD, step for step, and its argument checks."""

import numpy as np
import pytest

import attnlab as al
from optim_samples import SGD_OPTIONS as OPTIONS
from optim_samples import SHAPES


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_matches_torch_for_50_steps(compare_with_torch, options, dtype):
    compare_with_torch("SGD", options, [(SHAPES, {})], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_groups_with_their_own_options_and_a_parameter_without_grad(compare_with_torch, dtype):
    """Groups override lr and momentum; parameter 1 has no grad every third step (torch skips it
    and its momentum buffer waits), parameter 2 never has one (no state), nor has group 1
    (momentum 0)."""
    groups = [
        (SHAPES[:3], {}),
        (SHAPES[3:], {"lr": 0.02, "momentum": 0.0}),
        ([(5, 2)], {"lr": 0.3, "nesterov": True}),
    ]
    opt, ref, ours, _ = compare_with_torch(
        "SGD",
        dict(lr=0.1, momentum=0.9),
        groups,
        dtype,
        skip=lambda step, i: i == 2 or (i == 1 and step % 3 == 1),
    )
    assert ours[2] not in opt.state and len(opt.state) == len(ref.state) == 3  # group 1: none
    assert list(opt.state[ours[0]]) == ["momentum_buffer"]


def test_default_lr_is_torchs(make_param):
    p = make_param(np.ones(3, np.float32))
    opt = al.optim.SGD([p])
    assert opt.param_groups[0]["lr"] == 1e-3
    p.grad = np.ones(3, np.float32)
    opt.step()
    np.testing.assert_array_equal(p.data, np.float32(1) - np.float32(1e-3))


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(lr=-0.1), r"lr: expected a number >= 0, got -0\.1"),
        (dict(momentum=-0.5), "momentum: expected a number >= 0"),
        (dict(weight_decay=-1), "weight_decay: expected a number >= 0"),
        (dict(nesterov=True), "nesterov: Nesterov momentum needs momentum > 0 and dampening 0"),
        (dict(momentum=0.9, dampening=0.1, nesterov=True), "nesterov: .*dampening=0.1"),
    ],
)
def test_bad_hyperparameters(make_param, options, match):
    with pytest.raises(ValueError, match=match):
        al.optim.SGD([make_param(np.ones(2))], **options)


def test_bad_hyperparameter_set_on_a_group_is_caught_at_step(make_param):
    p = make_param(np.ones(2))
    opt = al.optim.SGD([p], lr=0.1)
    p.grad = np.ones(2)
    opt.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr: expected a number >= 0, got -1.0"):
        opt.step()
    np.testing.assert_array_equal(p.data, 1.0)
    with pytest.raises(TypeError, match="maximize: expected a bool, got str"):
        al.optim.SGD([p], maximize="yes")
