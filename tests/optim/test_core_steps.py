"""The C++ steps (cpp/src/layers/optimizer.cpp, optimizer_update.cpp, cpp/bindings/optim.cpp):
torch.optim's formulas in float64 NumPy on every arch, the binding's own checks guard the C++
boundary whatever the Python layer sends, and results do not depend on threads."""

import numpy as np
import pytest

import attnlab as al
from attnlab import _core
from optim_samples import ADAM_OPTIONS, SGD_OPTIONS, SHAPES, grads_of_step, random_params

ADAM = dict(
    lr=1e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    decoupled_weight_decay=False,
    amsgrad=False,
    maximize=False,
)
SGD = dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False)


def adam_reference(
    p,
    g,
    state,
    step,
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    decoupled=False,
):
    """torch.optim.Adam's single-tensor update in float64; ``state`` (m, v, v_max) in place."""
    beta1, beta2 = betas
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * p
    state["m"] += (1 - beta1) * (g - state["m"])
    state["v"] = beta2 * state["v"] + (1 - beta2) * g * g
    v_hat = state["v"]
    if amsgrad:
        v_hat = state["v_max"] = np.maximum(state["v_max"], state["v"])
    denom = np.sqrt(v_hat) / np.sqrt(1 - beta2**step) + eps
    return p - lr / (1 - beta1**step) * state["m"] / denom


def sgd_reference(
    p,
    g,
    state,
    step,
    lr,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
    maximize=False,
):
    """torch.optim.SGD's update in float64; ``state`` (the momentum buffer) in place."""
    d = -g if maximize else g
    if weight_decay:
        d = d + weight_decay * p
    if momentum:
        state["buf"] = d.copy() if step == 1 else momentum * state["buf"] + (1 - dampening) * d
        d = d + momentum * state["buf"] if nesterov else state["buf"]
    return p - lr * d


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, options", ADAM_OPTIONS + [("SGD", o) for o in SGD_OPTIONS], ids=str)
def test_steps_follow_torchs_formulas_on_every_arch(arch, name, options, dtype):
    """Five steps on shapes with SIMD tails and chunk edges, against float64 NumPy."""
    rng = np.random.default_rng(3)
    params = random_params(rng, SHAPES, dtype)
    expected = [p.data.astype(np.float64) for p in params]
    states = [
        dict(m=np.zeros_like(e), v=np.zeros_like(e), v_max=np.zeros_like(e)) for e in expected
    ]
    opt = getattr(al.optim, name)(params, **options)
    reference = sgd_reference if name == "SGD" else adam_reference
    extra = (
        dict(decoupled=True, weight_decay=options.get("weight_decay", 1e-2))
        if name == "AdamW"
        else {}
    )
    for step in range(1, 6):
        grads = grads_of_step(rng, params, step, lambda s, i: False)
        for i, (p, g) in enumerate(zip(params, grads)):
            p.grad = g
            expected[i] = reference(
                expected[i], g.astype(np.float64), states[i], step, **{**options, **extra}
            )
        opt.step()
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for i, (p, e) in enumerate(zip(params, expected)):
        assert p.data.dtype == dtype
        np.testing.assert_allclose(p.data, e, **tol, err_msg=f"{name} {options} parameter {i}")


def _adam(params, grads, m=None, v=None, steps=None, **options):
    m = [np.zeros_like(p) for p in params] if m is None else m
    v = [np.zeros_like(p) for p in params] if v is None else v
    _core.adam_step(
        params,
        grads,
        m,
        v,
        [],
        [1] * len(params) if steps is None else steps,
        **{**ADAM, **options},
    )


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda p, g: _adam([p], [g.astype(np.float64)]),
            TypeError,
            r"grads\[0\]: dtype float64 does not match params\[0\]'s dtype float32",
        ),
        (
            lambda p, g: _adam([p], [g[:5]]),
            ValueError,
            r"grads\[0\]: expected shape \(7,\), got \(5,\)",
        ),
        (
            lambda p, g: _adam([p], [g], v=[np.zeros(7)]),
            TypeError,
            r"exp_avg_sqs\[0\]: dtype float64 does not match params\[0\]'s dtype float32",
        ),
        (
            lambda p, g: _adam([p], [g], m=[]),
            ValueError,
            r"exp_avgs: expected 1 arrays \(one per parameter\), got 0",
        ),
        (
            lambda p, g: _adam([p], [g], steps=[0]),
            ValueError,
            r"steps\[0\]: expected a step count >= 1, got 0",
        ),
        (
            lambda p, g: _adam([p.astype(np.int32)], [g]),
            TypeError,
            r"params\[0\]: expected dtype float32 or float64, got int32",
        ),
        (
            lambda p, g: _adam([p], [list(g)]),
            TypeError,
            r"grads\[0\]: expected a NumPy array, got list",
        ),
        (
            lambda p, g: _adam([np.zeros(14, np.float32)[::2]], [g]),
            ValueError,
            r"params\[0\]: expected a C-contiguous array",
        ),
        (
            lambda p, g: _core.sgd_step([p], [g], [], [], **SGD),
            ValueError,
            r"momentum_buffers: expected 1 arrays \(one per parameter\), got 0",
        ),
        (
            lambda p, g: _core.sgd_step([p], [g], [np.zeros(7, np.float32)], [], **SGD),
            ValueError,
            "fresh_buffers: expected one flag per parameter",
        ),
    ],
)
def test_binding_checks(call, error, match):
    p, g = np.ones(7, np.float32), np.ones(7, np.float32)
    with pytest.raises(error, match=match):
        call(p, g)
    np.testing.assert_array_equal(p, 1.0)


def test_a_read_only_parameter_is_refused_not_copied():
    p = np.ones(7, np.float32)
    p.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\]: array is read-only"):
        _adam([p], [np.ones(7, np.float32)])


def test_empty_parameters_and_empty_lists():
    p = np.ones((0, 3), np.float32)
    _adam([p], [np.ones((0, 3), np.float32)])
    _adam([], [])
    assert p.shape == (0, 3)


@pytest.mark.parametrize("name", ["SGD", "AdamW"])
def test_results_do_not_depend_on_the_thread_count(restore_threads, name):
    """Parameters span many pool chunks; 1 and 2 threads give bitwise the same parameters."""
    results = []
    for threads in (1, 2):
        al.set_num_threads(threads)
        rng = np.random.default_rng(6)
        params = random_params(rng, [(100003,), (257, 129), (5,)], np.float32)
        opt = getattr(al.optim, name)(
            params, lr=1e-2, weight_decay=0.1, **({"momentum": 0.9} if name == "SGD" else {})
        )
        for step in range(3):
            for p, g in zip(params, grads_of_step(rng, params, step, lambda s, i: False)):
                p.grad = g
            opt.step()
        results.append([p.data for p in params])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
