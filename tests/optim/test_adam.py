"""attnlab.optim.Adam and AdamW against torch.optim's, step for step, and their argument checks."""

import numpy as np
import pytest

import attnlab as al
from optim_samples import ADAM_OPTIONS as OPTIONS
from optim_samples import SHAPES


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, options", OPTIONS, ids=str)
def test_matches_torch_for_50_steps(compare_with_torch, name, options, dtype):
    opt, ref, ours, theirs = compare_with_torch(name, options, [(SHAPES, {})], dtype)
    for p, q in zip(ours, theirs):  # the state too, in torch's names
        state, expected = opt.state[p], ref.state[q]
        assert list(state) == list(expected)
        assert state["step"] == expected["step"].item() == 50
        for key in set(state) - {"step"}:
            np.testing.assert_allclose(state[key], expected[key].numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_groups_with_their_own_options_and_a_parameter_without_grad(
    compare_with_torch, name, dtype
):
    """Parameter 1 skips every third step, so its step count (and bias correction) lags the
    others'; parameter 2 never has a grad and gets no state."""
    groups = [
        (SHAPES[:3], {}),
        (SHAPES[3:], {"lr": 3e-3, "betas": (0.8, 0.99)}),
        ([(5, 2)], {"lr": 1e-1, "amsgrad": True, "weight_decay": 0.5}),
    ]
    opt, ref, ours, theirs = compare_with_torch(
        name,
        dict(lr=1e-2),
        groups,
        dtype,
        skip=lambda step, i: i == 2 or (i == 1 and step % 3 == 1),
    )
    assert ours[2] not in opt.state and len(opt.state) == len(ref.state) == 5
    assert opt.state[ours[1]]["step"] == ref.state[theirs[1]]["step"].item() == 33


def test_defaults_are_torchs(torch, make_param):
    for name in ("Adam", "AdamW"):
        ours = getattr(al.optim, name)([make_param(np.ones(1))]).param_groups[0]
        theirs = getattr(torch.optim, name)([torch.ones(1, requires_grad=True)]).param_groups[0]
        for key in (
            "lr",
            "betas",
            "eps",
            "weight_decay",
            "amsgrad",
            "maximize",
            "decoupled_weight_decay",
        ):
            assert ours[key] == theirs[key], (name, key)


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(lr=-1e-3), ValueError, r"lr: expected a number >= 0, got -0\.001"),
        (dict(eps=-1e-8), ValueError, "eps: expected a number >= 0"),
        (dict(weight_decay=-0.1), ValueError, "weight_decay: expected a number >= 0"),
        (
            dict(betas=(1.0, 0.999)),
            ValueError,
            r"betas\[0\]: expected a number in \[0, 1\), got 1.0",
        ),
        (dict(betas=(0.9, -0.1)), ValueError, r"betas\[1\]: expected a number in \[0, 1\)"),
        (dict(betas=0.9), TypeError, "betas: expected a pair of numbers, got 0.9"),
        (dict(betas=(0.9, "x")), TypeError, r"betas\[1\]: expected a real number, got str"),
        (dict(amsgrad=1), TypeError, "amsgrad: expected a bool, got int"),
    ],
)
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_bad_hyperparameters(make_param, name, options, error, match):
    with pytest.raises(error, match=match):
        getattr(al.optim, name)([make_param(np.ones(2))], **options)


def test_a_failed_step_changes_nothing(make_param):
    """The second parameter's bad grad is found before any update: no data, no step count."""
    a, b = make_param(np.ones(3)), make_param(np.ones(3))
    opt = al.optim.Adam([a, b])
    a.grad, b.grad = np.ones(3), np.ones(2)
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['params'\]\[1\]\.grad"):
        opt.step()
    np.testing.assert_array_equal(a.data, 1.0)
    assert len(opt.state) == 0
