"""Fixtures of the optimizer tests; the helpers they share are in tests/optim_samples.py."""

import numpy as np
import pytest

import attnlab as al
from optim_samples import Param, grads_of_step, random_params


@pytest.fixture
def make_param():
    """Param(array): a stand-in parameter holding ``array`` as its data."""
    return Param


@pytest.fixture
def compare_with_torch(torch, arch):
    """Runs attnlab's and torch's optimizer ``name`` side by side over ``steps`` steps of the same
    random gradients and checks every parameter after every step, on every arch.

    ``groups``: a list of (shapes, group options); ``skip(step, i)``: parameter i (counted over
    all groups) gets no gradient on that step. Tolerance, float32 and float64 alike: rtol 1e-6
    and atol 1e-6 * max(1, max |torch's parameter|), i.e. relative to the parameter's scale, as
    an element that crossed zero keeps the rounding of its larger past values (float32 differs
    from torch's by a few ulps: torch's add(alpha) and lerp use FMA, attnlab's steps do not).
    Returns (our optimizer, torch's, our params, torch's params).
    """

    def run(name, options, groups, dtype, steps=50, skip=lambda step, i: False):
        rng = np.random.default_rng(0)
        ours = [random_params(rng, shapes, dtype) for shapes, _ in groups]
        theirs = [[torch.tensor(p.data.copy(), requires_grad=True) for p in g] for g in ours]
        flat_ours = [p for g in ours for p in g]
        flat_theirs = [p for g in theirs for p in g]
        opt = getattr(al.optim, name)(
            [{"params": g, **o} for g, (_, o) in zip(ours, groups)], **options
        )
        ref = getattr(torch.optim, name)(
            [{"params": g, **o} for g, (_, o) in zip(theirs, groups)], **options
        )
        for step in range(steps):
            for p, q, g in zip(flat_ours, flat_theirs, grads_of_step(rng, flat_ours, step, skip)):
                p.grad = g
                q.grad = None if g is None else torch.from_numpy(g.copy())
            opt.step()
            ref.step()
            for i, (p, q) in enumerate(zip(flat_ours, flat_theirs)):
                expected = q.detach().numpy()
                assert p.data.dtype == dtype
                scale = max(1.0, float(np.max(np.abs(expected))))
                np.testing.assert_allclose(
                    p.data,
                    expected,
                    rtol=1e-6,
                    atol=1e-6 * scale,
                    err_msg=f"{name} {options} parameter {i}, step {step}",
                )
        return opt, ref, flat_ours, flat_theirs

    return run
