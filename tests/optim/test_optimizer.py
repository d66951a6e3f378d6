"""The Optimizer base: param groups, zero_grad, state dicts (torch's layout) and bad input."""

import copy

import numpy as np
import pytest

import attnlab as al
from optim_samples import grads_of_step, random_params


def test_param_groups_take_defaults_and_their_own_options(make_param):
    a, b, c = (make_param(np.zeros(2)) for _ in range(3))
    opt = al.optim.SGD(
        [{"params": [a, b]}, {"params": c, "lr": 0.5, "tag": "head"}], lr=0.1, momentum=0.9
    )
    first, second = opt.param_groups
    assert first["params"] == [a, b] and first["lr"] == 0.1 and first["momentum"] == 0.9
    assert second["params"] == [c] and second["lr"] == 0.5 and second["tag"] == "head"
    d = make_param(np.zeros(1))
    opt.add_param_group({"params": [d], "momentum": 0.0})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.0
    with pytest.raises(
        ValueError, match="params: some parameters of param group 3 appear in an earlier group"
    ):
        opt.add_param_group({"params": [a]})
    with pytest.raises(
        ValueError, match="param group 3 holds the parameter at position 1 more than once"
    ):
        opt.add_param_group({"params": [make_param(np.zeros(1))] * 2})
    with pytest.raises(TypeError, match="params: expected an ordered collection"):
        opt.add_param_group({"params": {make_param(np.zeros(1))}})
    with pytest.raises(ValueError, match="param_group: missing key 'params'"):
        opt.add_param_group({"lr": 0.1})
    with pytest.raises(TypeError, match="param_group: expected a dict, got list"):
        opt.add_param_group([d])
    with pytest.raises(ValueError, match="lr: expected a number >= 0"):
        opt.add_param_group({"params": [make_param(np.zeros(1))], "lr": -2})
    assert len(opt.param_groups) == 3


def test_zero_grad(make_param):
    a, b, c = make_param(np.zeros(2)), make_param(np.zeros(3)), make_param(np.zeros(1))
    a.grad, b.grad = np.ones(2), np.ones(3)
    opt = al.optim.Adam([a, b, c])
    grad_b = b.grad
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, 0.0)
    assert b.grad is grad_b and c.grad is None  # zeroed in place
    np.testing.assert_array_equal(grad_b, 0.0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


@pytest.mark.parametrize(
    "params, error, match",
    [
        ([], ValueError, "params: optimizer got an empty parameter list"),
        (iter([]), ValueError, "optimizer got an empty parameter list"),
        (None, TypeError, "params: expected an iterable of parameters or of dicts .*got NoneType"),
        (np.ones(3), TypeError, "params: expected an iterable .*got ndarray"),
        (
            [np.ones(3)],
            TypeError,
            r"params: expected parameters \(objects with .data and .grad\) "
            r"or dicts of them, got ndarray \(param group 0, position 0\)",
        ),
        ([{"params": [1.0]}], TypeError, "params: expected parameters .*got float"),
    ],
)
def test_bad_params(params, error, match):
    with pytest.raises(error, match=match):
        al.optim.SGD(params, lr=0.1)


def test_a_parameter_itself_is_not_params(make_param):
    with pytest.raises(
        TypeError,
        match="params: expected an iterable of parameters or of dicts "
        r"\(param groups\), got Param",
    ):
        al.optim.SGD(make_param(np.ones(2)))


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_parameters_of_ints_are_refused(make_param, name):
    with pytest.raises(
        TypeError,
        match=r"params: expected parameters of dtype float32 or "
        r"float64, got int64 \(param group 0, position 1\)",
    ):
        getattr(al.optim, name)([make_param(np.ones(2)), make_param(np.ones(2, np.int64))])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_bad_grads_and_data_at_step(make_param, name):
    p, q = make_param(np.ones((2, 3), np.float32)), make_param(np.ones(4, np.float32))
    opt = getattr(al.optim, name)([p, q], lr=0.1, **({"momentum": 0.9} if name == "SGD" else {}))
    where = r"param_groups\[0\]\['params'\]\[1\]"
    p.grad = np.ones((2, 3), np.float32)
    cases = [
        (
            np.ones(4, np.float64),
            TypeError,
            where + r"\.grad: dtype float64 does not match the "
            "parameter's dtype float32",
        ),
        (
            np.ones((4, 1), np.float32),
            ValueError,
            where + r"\.grad: expected shape \(4,\) \(the "
            r"parameter's shape\), got \(4, 1\)",
        ),
        ([1.0] * 4, TypeError, where + r"\.grad: expected a NumPy array or None, got list"),
    ]
    for grad, error, match in cases:
        q.grad = grad
        with pytest.raises(error, match=match):
            opt.step()
    q.grad = np.ones(4, np.float32)
    q.data = np.ones(8, np.float32)[::2]
    with pytest.raises(
        ValueError,
        match=where + r"\.data: expected a writable C-contiguous "
        "array",
    ):
        opt.step()
    q.data = np.ones(4, np.int32)
    with pytest.raises(
        TypeError,
        match=where + r"\.data: expected dtype float32 or float64, "
        "got int32",
    ):
        opt.step()
    np.testing.assert_array_equal(p.data, 1.0)  # nothing was updated
    assert len(opt.state) == 0


def test_a_non_contiguous_grad_is_read_not_copied_into(make_param):
    p = make_param(np.ones(3))
    grad = np.arange(6.0)
    p.grad = grad[::2]
    al.optim.SGD([p], lr=1.0).step()
    np.testing.assert_array_equal(p.data, [1.0, -1.0, -3.0])
    np.testing.assert_array_equal(grad, np.arange(6.0))


def test_mixed_dtypes_in_one_group(make_param):
    a, b = make_param(np.ones(5, np.float32)), make_param(np.ones(5, np.float64))
    a.grad, b.grad = np.full(5, 2, np.float32), np.full(5, 2, np.float64)
    al.optim.SGD([a, b], lr=0.25).step()
    assert a.data.dtype == np.float32 and b.data.dtype == np.float64
    np.testing.assert_array_equal(a.data, 0.5)
    np.testing.assert_array_equal(b.data, 0.5)


def test_step_returns_the_closure_loss(make_param):
    p = make_param(np.ones(2))
    p.grad = np.ones(2)
    calls = []
    assert al.optim.AdamW([p]).step(lambda: calls.append(1) or 3.5) == 3.5 and calls == [1]
    assert al.optim.SGD([p]).step() is None


# ------------------------------------------------------------------------------------------
# state dicts


def _run(opt, params, rng, steps, first_step=0):
    for step in range(first_step, first_step + steps):
        for p, g in zip(params, grads_of_step(rng, params, step, lambda s, i: i == 1 and s < 3)):
            p.grad = g
        opt.step()


@pytest.mark.parametrize(
    "name, options",
    [
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
        ("Adam", dict(amsgrad=True)),
        ("AdamW", dict(lr=1e-2)),
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_dict_round_trip_resumes_bitwise(name, options, dtype):
    rng = np.random.default_rng(1)
    params = random_params(rng, [(7,), (3, 4), (40000,)], dtype)

    def make(ps):
        return getattr(al.optim, name)(
            [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], **options
        )

    opt = make(params)
    _run(opt, params, np.random.default_rng(2), 5)
    saved = copy.deepcopy(opt.state_dict())
    resumed_params = [type(p)(p.data.copy()) for p in params]
    resumed = make(resumed_params)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[1]["lr"] == 0.05
    _run(opt, params, np.random.default_rng(3), 5, first_step=5)
    _run(resumed, resumed_params, np.random.default_rng(3), 5, first_step=5)
    for p, q in zip(params, resumed_params):
        np.testing.assert_array_equal(p.data, q.data)
    for i, p in enumerate(params):
        for key, value in opt.state[p].items():
            np.testing.assert_array_equal(value, resumed.state[resumed_params[i]][key])


def test_state_dict_is_a_snapshot(make_param):
    p = make_param(np.ones(3))
    p.grad = np.ones(3)
    opt = al.optim.Adam([p])
    opt.step()
    saved = opt.state_dict()
    opt.step()
    assert saved["state"][0]["step"] == 1
    assert not np.array_equal(saved["state"][0]["exp_avg"], opt.state[p]["exp_avg"])


@pytest.mark.parametrize(
    "name, options",
    [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(amsgrad=True)), ("AdamW", {})],
    ids=str,
)
def test_state_dict_has_torchs_layout(torch, make_param, name, options):
    """Same state indices and keys, same group keys (those both have), same params indices."""
    rng = np.random.default_rng(4)
    ours = random_params(rng, [(3,), (2, 2), (5,)], np.float64)
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in ours]
    opt = getattr(al.optim, name)([{"params": ours[:2]}, {"params": ours[2:]}], **options)
    ref = getattr(torch.optim, name)([{"params": theirs[:2]}, {"params": theirs[2:]}], **options)
    for p, q in zip(ours[1:], theirs[1:]):  # parameter 0 has no grad: no state
        p.grad = np.ones(p.data.shape)
        q.grad = torch.ones(q.shape, dtype=torch.float64)
    opt.step()
    ref.step()
    sd, ref_sd = opt.state_dict(), ref.state_dict()
    assert sorted(sd["state"]) == sorted(ref_sd["state"]) == [1, 2]
    for i in (1, 2):
        assert list(sd["state"][i]) == list(ref_sd["state"][i])
    for group, ref_group in zip(sd["param_groups"], ref_sd["param_groups"]):
        assert group["params"] == ref_group["params"]
        assert set(group) <= set(ref_group)
        assert all(group[k] == ref_group[k] for k in group)


def _saved(make_param):
    params = [make_param(np.ones(3, np.float32)), make_param(np.ones((2, 2), np.float32))]
    for p in params:
        p.grad = np.ones(p.data.shape, np.float32)
    opt = al.optim.Adam([{"params": params[:1]}, {"params": params[1:]}])
    opt.step()
    return opt, opt.state_dict()


def _mutated(sd, change):
    sd = copy.deepcopy(sd)
    change(sd)
    return sd


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda sd: sd.pop("state"), ValueError, "state_dict: missing key 'state'"),
        (
            lambda sd: sd["param_groups"].pop(),
            ValueError,
            r"state_dict\['param_groups'\]: has 1 param groups, this optimizer has 2",
        ),
        (
            lambda sd: sd["param_groups"][1]["params"].append(2),
            ValueError,
            r"state_dict\['param_groups'\]\[1\]: has 2 parameters, this optimizer's group has 1",
        ),
        (
            lambda sd: sd["param_groups"][1].update(params=[0]),
            ValueError,
            r"state_dict\['param_groups'\]\[1\]\['params'\]: expected distinct int indices, got 0",
        ),
        (
            lambda sd: sd["param_groups"][0].update(lr=-1.0),
            ValueError,
            "lr: expected a number >= 0",
        ),
        (
            lambda sd: sd["state"].update({5: sd["state"][0]}),
            ValueError,
            r"state_dict\['state'\]\[5\]: not the index of any parameter",
        ),
        (
            lambda sd: sd["state"][1].update(exp_avg=np.zeros(4, np.float32)),
            ValueError,
            r"state_dict\['state'\]\[1\]\['exp_avg'\]: expected shape \(2, 2\) \(the parameter's "
            r"shape\), got \(4,\)",
        ),
        (
            lambda sd: sd["state"][0].update(exp_avg_sq=np.zeros(3)),
            ValueError,
            r"state_dict\['state'\]\[0\]\['exp_avg_sq'\]: dtype float64 does not match the "
            "parameter's dtype float32",
        ),
        (
            lambda sd: sd["state"][0].pop("exp_avg"),
            ValueError,
            r"state_dict\['state'\]\[0\]: missing key 'exp_avg'",
        ),
        (
            lambda sd: sd["state"][0].update(momentum_buffer=np.zeros(3, np.float32)),
            ValueError,
            r"state_dict\['state'\]\[0\]: unexpected key 'momentum_buffer'",
        ),
        (
            lambda sd: sd["state"][0].update(step=1.5),
            ValueError,
            r"state_dict\['state'\]\[0\]\['step'\]: expected a whole number >= 0, got 1.5",
        ),
    ],
)
def test_load_state_dict_mismatch(make_param, change, error, match):
    opt, sd = _saved(make_param)
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(error, match=match):
        opt.load_state_dict(_mutated(sd, change))
    after = opt.state_dict()  # nothing changed
    assert after["param_groups"] == before["param_groups"]
    for i, entry in before["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(after["state"][i][key], value)


def test_load_state_dict_accepts_torchs_step_and_copies_arrays(make_param):
    opt, sd = _saved(make_param)
    sd["state"][0]["step"] = np.array(1.0, np.float32)  # torch's float step, as NumPy
    opt.load_state_dict(sd)
    p = opt.param_groups[0]["params"][0]
    assert opt.state[p]["step"] == 1
    assert opt.state[p]["exp_avg"] is not sd["state"][0]["exp_avg"]


def test_steps_the_parameters_of_a_module():
    model = al.nn.Linear(3, 2)
    before = model.weight.data.copy()
    opt = al.optim.AdamW(model.parameters(), lr=0.1)
    model(al.tensor(np.ones((4, 3), np.float32))).sum().backward()
    opt.step()
    assert model.weight.data is opt.param_groups[0]["params"][0].data  # updated in place
    assert not np.array_equal(model.weight.data, before)
    opt.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None
