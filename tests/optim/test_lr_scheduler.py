"""LambdaLR against torch's; WarmupCosine and Noam against their formulas; state dicts."""

import math

import numpy as np
import pytest

import attnlab as al


def _optimizer(make_param, lrs=(0.1, 0.02)):
    return al.optim.SGD([{"params": [make_param(np.zeros(1))], "lr": lr} for lr in lrs])


def _lrs(opt):
    return [g["lr"] for g in opt.param_groups]


def test_lambda_lr_matches_torch(torch, make_param):
    opt = _optimizer(make_param)
    ref = torch.optim.SGD(
        [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in (0.1, 0.02)]
    )
    lambdas = [lambda step: 0.95**step, lambda step: 1 / (1 + step)]
    ours = al.optim.LambdaLR(opt, lambdas)
    theirs = torch.optim.lr_scheduler.LambdaLR(ref, lambdas)
    for _ in range(20):
        assert ours.get_last_lr() == theirs.get_last_lr() == _lrs(opt) == _lrs(ref)
        ref.step()
        ours.step()
        theirs.step()
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.02]
    assert ours.last_epoch == theirs.last_epoch == 20


def test_one_lambda_for_every_group(make_param):
    opt = _optimizer(make_param)
    sched = al.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5)
    assert sched.get_last_lr() == _lrs(opt) == [0.05, 0.01]  # the constructor sets step 0's lr


def _warmup_cosine(base, step, warmup, total, min_lr):
    if step < warmup:
        return base * step / warmup
    t = min(1.0, (step - warmup) / (total - warmup))
    return min_lr + (base - min_lr) * (1 + math.cos(math.pi * t)) / 2


@pytest.mark.parametrize("warmup, total, min_lr", [(10, 50, 0.0), (0, 20, 1e-3), (5, 6, 0.01)])
def test_warmup_cosine_follows_its_formula(make_param, warmup, total, min_lr):
    opt = _optimizer(make_param)
    sched = al.optim.WarmupCosine(opt, warmup, total, min_lr=min_lr)
    for step in range(total + 5):
        expected = [_warmup_cosine(b, step, warmup, total, min_lr) for b in (0.1, 0.02)]
        np.testing.assert_allclose(_lrs(opt), expected, rtol=1e-12, atol=1e-15)
        assert sched.get_last_lr() == _lrs(opt)
        sched.step()
    assert _lrs(opt) == [min_lr, min_lr]


def test_noam_follows_its_formula(make_param):
    opt = _optimizer(make_param)
    sched = al.optim.Noam(opt, d_model=512, warmup_steps=40, factor=2.0)
    seen = []
    for step in range(200):
        s = step + 1
        expected = 2.0 * 512**-0.5 * min(s**-0.5, s * 40**-1.5)
        np.testing.assert_allclose(_lrs(opt), [expected, expected], rtol=1e-12)
        seen.append(expected)
        sched.step()
    assert int(np.argmax(seen)) == 39  # the peak is at s = warmup_steps


@pytest.mark.parametrize(
    "make_scheduler",
    [
        lambda opt: al.optim.LambdaLR(opt, lambda step: 0.9**step),
        lambda opt: al.optim.WarmupCosine(opt, 3, 12, min_lr=1e-4),
        lambda opt: al.optim.Noam(opt, 64, 4),
    ],
    ids=["LambdaLR", "WarmupCosine", "Noam"],
)
def test_state_dict_resumes(make_param, make_scheduler):
    opt = _optimizer(make_param)
    sched = make_scheduler(opt)
    for _ in range(5):
        sched.step()
    saved = sched.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 5
    opt2 = _optimizer(make_param)
    resumed = make_scheduler(opt2)
    resumed.load_state_dict(saved)
    for _ in range(10):
        sched.step()
        resumed.step()
        assert resumed.get_last_lr() == sched.get_last_lr() == _lrs(opt2)
    with pytest.raises(ValueError, match="state_dict: missing key 'last_epoch'"):
        resumed.load_state_dict({k: v for k, v in saved.items() if k != "last_epoch"})
    with pytest.raises(ValueError, match="state_dict: unexpected key 'extra'"):
        resumed.load_state_dict({**saved, "extra": 1})


def test_lambda_lr_saves_callable_objects_state(make_param):
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, step):
            return self.rate**step

    opt = _optimizer(make_param)
    sched = al.optim.LambdaLR(opt, [Decay(0.5), lambda step: 1.0])
    saved = sched.state_dict()
    assert saved["lr_lambdas"] == [{"rate": 0.5}, None]
    other = al.optim.LambdaLR(_optimizer(make_param), [Decay(0.9), lambda step: 1.0])
    other.load_state_dict(saved)
    assert other.lr_lambdas[0].rate == 0.5


def test_bad_arguments(make_param):
    opt = _optimizer(make_param)
    with pytest.raises(TypeError, match="optimizer: expected an attnlab.optim optimizer, got list"):
        al.optim.Noam([], 64, 10)
    with pytest.raises(ValueError, match="lr_lambda: expected 2 functions .*got 3"):
        al.optim.LambdaLR(opt, [lambda s: 1.0] * 3)
    with pytest.raises(TypeError, match="lr_lambda: expected a function of the step, got float"):
        al.optim.LambdaLR(opt, 0.5)
    with pytest.raises(
        ValueError,
        match=r"total_steps: expected more than warmup_steps \(10\), "
        "got 10",
    ):
        al.optim.WarmupCosine(opt, 10, 10)
    with pytest.raises(ValueError, match="warmup_steps: expected an int >= 0, got -1"):
        al.optim.WarmupCosine(opt, -1, 10)
    with pytest.raises(ValueError, match="min_lr: expected a number >= 0"):
        al.optim.WarmupCosine(opt, 1, 10, min_lr=-1)
    with pytest.raises(ValueError, match="d_model: expected an int > 0, got 0"):
        al.optim.Noam(opt, 0, 10)
    with pytest.raises(TypeError, match="warmup_steps: expected an int, got float"):
        al.optim.Noam(opt, 64, 4.5)
    with pytest.raises(
        ValueError,
        match=r"last_epoch: resuming at 3 needs 'initial_lr' in "
        r"param_groups\[0\]",
    ):
        al.optim.Noam(_optimizer(make_param), 64, 4, last_epoch=3)
