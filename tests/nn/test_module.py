"""Module (nn/module.py): registration, iteration, modes, dtypes, state_dict and its errors."""

import numpy as np
import pytest

import attnlab as al

nn = al.nn


class Block(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.proj = nn.Linear(d_in, 4)
        self.norm = nn.LayerNorm(4)
        self.register_buffer("table", np.arange(4.0, dtype=np.float32))
        self.register_buffer("scratch", np.zeros(2, np.float32), persistent=False)

    def forward(self, x):
        return self.norm(self.proj(x)) + self.table


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(3), Block(4)])
        self.head = nn.Linear(4, 2, bias=False)
        self.tied = self.head  # the same module twice: its parameters count once

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x)


def test_names_follow_the_attribute_tree():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "blocks.0.proj.weight",
        "blocks.0.proj.bias",
        "blocks.0.norm.weight",
        "blocks.0.norm.bias",
        "blocks.1.proj.weight",
        "blocks.1.proj.bias",
        "blocks.1.norm.weight",
        "blocks.1.norm.bias",
        "head.weight",
    ]
    assert [n for n, _ in net.named_buffers()] == [
        "blocks.0.table",
        "blocks.0.scratch",
        "blocks.1.table",
        "blocks.1.scratch",
    ]
    assert [n for n, _ in net.named_modules()] == [
        "",
        "blocks",
        "blocks.0",
        "blocks.0.proj",
        "blocks.0.norm",
        "blocks.1",
        "blocks.1.proj",
        "blocks.1.norm",
        "head",
    ]
    assert [n for n, _ in net.named_children()] == ["blocks", "head"]
    assert net.num_parameters() == (12 + 4 + 8) + (16 + 4 + 8) + 8
    # torch's order: a module's own parameters and buffers before its children's; a module
    # registered twice appears under both names
    assert list(net.state_dict()) == [
        "blocks.0.table",
        "blocks.0.proj.weight",
        "blocks.0.proj.bias",
        "blocks.0.norm.weight",
        "blocks.0.norm.bias",
        "blocks.1.table",
        "blocks.1.proj.weight",
        "blocks.1.proj.bias",
        "blocks.1.norm.weight",
        "blocks.1.norm.bias",
        "head.weight",
        "tied.weight",
    ]


def test_train_eval_zero_grad_apply():
    net = Net()
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    out = net(al.tensor(np.ones((2, 3), np.float32)))
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(not p.grad.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 3  # head once, though also named tied


def test_double_and_float_convert_parameters_and_float_buffers():
    net = Net().double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert all(b.dtype == np.float64 for b in net.buffers())
    out = net(al.tensor(np.ones((1, 3))))
    assert out.dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())


def test_state_dict_round_trip_copies_and_loads_in_place():
    a, b = Net(), Net()
    sd = a.state_dict()
    a.head.weight.data[...] = 5  # later training does not change a saved dict
    assert not (sd["head.weight"] == 5).all()
    target = b.head.weight.data
    b.load_state_dict(sd)
    assert b.head.weight.data is target  # in place: optimizers holding it keep working
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])


def test_load_state_dict_names_every_problem():
    net = Net()
    sd = net.state_dict()
    del sd["head.weight"]
    sd["extra"] = np.zeros(1, np.float32)
    sd["blocks.0.proj.bias"] = np.zeros(5, np.float32)
    sd["blocks.1.proj.bias"] = np.zeros(4, np.float64)
    sd["blocks.0.norm.bias"] = [0.0] * 4
    with pytest.raises(ValueError) as e:
        net.load_state_dict(sd)
    message = str(e.value)
    for part in (
        "missing key 'head.weight'",
        "unexpected key 'extra'",
        "'blocks.0.proj.bias': shape (5,) does not match the module's (4,)",
        "'blocks.1.proj.bias': dtype float64 does not match the module's float32",
        "'blocks.0.norm.bias': expected an ndarray, got list",
    ):
        assert part in message
    good = Net().state_dict()
    del good["head.weight"]
    good["extra"] = np.zeros(1)
    keys = net.load_state_dict(good, strict=False)
    assert keys.missing_keys == ["head.weight"] and keys.unexpected_keys == ["extra"]
    with pytest.raises(TypeError, match="state_dict: expected a mapping"):
        net.load_state_dict([1, 2])


def test_registration_errors():
    m = nn.Linear(2, 2)
    with pytest.raises(
        TypeError, match="weight: cannot assign a ndarray where a Parameter is registered"
    ):
        m.weight = np.zeros((2, 2))

    class Forgot(nn.Module):
        def __init__(self):
            self.x = 1

    with pytest.raises(RuntimeError, match=r"call super\(\).__init__\(\) before setting 'x'"):
        Forgot()
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        m.nope
    with pytest.raises(TypeError, match="dtype: expected float32 or float64, got int64"):
        nn.Linear(2, 2, dtype=np.int64)
    with pytest.raises(ValueError, match="in_features: expected a size >= 0, got -1"):
        nn.Linear(-1, 2)
    with pytest.raises(TypeError, match="data: a Parameter holds a float32 or float64 ndarray"):
        nn.Parameter(np.arange(3))


def test_repr_counts_parameters():
    text = repr(Net())
    assert text.startswith("Net(  # 60 parameters")
    assert "(proj): Linear(in_features=3, out_features=4, bias=True)  # 16 parameters" in text


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    assert len(seq[:2]) == 2
    x = al.tensor(np.ones((4, 2), np.float32))
    np.testing.assert_array_equal(seq(x).data, seq[2](seq[1](seq[0](x))).data)
    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    d["b"] = nn.ReLU()
    assert (
        list(d) == ["a", "b"]
        and "a" in d
        and [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias"]
    )
    with pytest.raises(TypeError, match="module: expected a Module, got int"):
        nn.ModuleList().append(3)
    with pytest.raises(IndexError, match="index 5 is out of range for ModuleList of length 0"):
        nn.ModuleList()[5]


def test_spec_records_the_constructor_arguments_of_attnlabs_modules():
    linear = nn.Linear(4, 2, bias=False, dtype=np.float64)
    assert linear.spec() == nn.ModuleSpec(
        nn.Linear, {"in_features": 4, "out_features": 2, "bias": False, "dtype": np.float64}
    )
    assert nn.ReLU().spec() == nn.ModuleSpec(nn.ReLU, {})
    seq = nn.Sequential(nn.Linear(2, 3), nn.GELU("tanh"))
    assert seq.spec().args == {"modules": (nn.Linear(2, 3).spec(), nn.GELU("tanh").spec())}
    spec = seq.spec()
    spec.args["modules"] = ()  # a copy: the module's record is not changed through it
    assert len(seq.spec().args["modules"]) == 2


def test_spec_holds_no_module_a_stack_copied():
    """A module argument is recorded as its spec, so the prototype layer a TransformerEncoder
    deep-copies is not kept alive by the record."""
    import gc
    import weakref

    layer = nn.TransformerEncoderLayer(8, 2, 16)
    alive = weakref.ref(layer)
    encoder = nn.TransformerEncoder(layer, 2)
    del layer
    gc.collect()
    assert alive() is None
    assert encoder.spec().args["encoder_layer"].cls is nn.TransformerEncoderLayer
    assert encoder.spec().args["encoder_layer"].args["d_model"] == 8


def test_spec_is_none_for_a_users_module_and_subclass():
    class Sub(nn.Linear):  # the constructor is Linear's, the class is not attnlab's
        pass

    class Wrapper(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

    assert Sub(2, 3).spec() is None
    assert Net().spec() is None
    mine = Wrapper(Net())
    assert mine.spec() is None and mine.inner.spec() is None
    assert nn.Sequential(Net()).spec().args["modules"] == (nn.ModuleSpec(Net, None),)


def test_spec_keeps_the_constructors_signature_and_errors():
    import inspect

    assert list(inspect.signature(nn.Linear).parameters) == [
        "in_features",
        "out_features",
        "bias",
        "dtype",
    ]
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'width'"):
        nn.Linear(2, 3, width=4)
