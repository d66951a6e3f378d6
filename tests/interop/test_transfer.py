"""interop/transfer.py: the trees must pair up submodule by submodule, the dtype is float32 or
float64 (one of them), each pair's settings, train/eval mode and requires_grad flags are carried
across, and hooks, invalid settings or weights of another layout are errors naming them."""

import numpy as np
import pytest

import attnlab as al
from torch_compare import same_arrays, same_state

torch = pytest.importorskip("torch")
tnn = torch.nn
from attnlab.interop import from_torch, models, to_torch  # noqa: E402

D, H = 8, 2


def encoder_layer(**options):
    return tnn.TransformerEncoderLayer(D, H, 16, 0.0, batch_first=True, **options)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_other_float_dtypes_are_type_errors(dtype):
    with pytest.raises(
        TypeError,
        match=rf"module: 'weight' has dtype {dtype}; attnlab computes "
        r"in float32 or float64 \(convert the module with "
        r"\.float\(\)",
    ):
        from_torch(tnn.Linear(3, 2).to(dtype))


def test_mixed_dtypes_are_type_errors():
    m = tnn.Linear(3, 2)
    m.weight.data = m.weight.data.double()
    with pytest.raises(
        TypeError,
        match=r"module: mixes float32 \('bias'\) and float64 "
        r"\('weight'\)",
    ):
        from_torch(m)
    ours = al.nn.Linear(3, 2)
    ours.bias.data = ours.bias.data.astype(np.float64)
    with pytest.raises(TypeError, match=r"module: mixes dtypes \['float32', 'float64'\]"):
        to_torch(ours)


def test_float64_converts_bitwise_both_ways(rng):
    m = tnn.TransformerEncoderLayer(D, H, 16, 0.0, batch_first=True, dtype=torch.float64).eval()
    ours = from_torch(m)
    assert {p.dtype for p in ours.parameters()} == {np.dtype(np.float64)}
    back = to_torch(ours)
    assert back.linear1.weight.dtype == torch.float64
    same_state(m, back)
    x = rng.standard_normal((2, 5, D))
    with torch.no_grad():
        np.testing.assert_allclose(ours(x).data, m(torch.from_numpy(x)).numpy(), atol=1e-12)


def test_modes_and_requires_grad_carry_over_per_module():
    m = encoder_layer().eval()
    m.linear1.train()
    m.norm2.weight.requires_grad_(False)
    ours = from_torch(m)
    assert not ours.training and ours.linear1.training and not ours.self_attn.training
    assert not ours.norm2.weight.requires_grad and ours.norm2.bias.requires_grad
    ours.self_attn.train()
    ours.linear2.bias.requires_grad_(False)
    back = to_torch(ours)
    assert back.self_attn.training and back.linear1.training and not back.linear2.training
    frozen = {n for n, p in back.named_parameters() if not p.requires_grad}
    assert frozen == {"norm2.weight", "linear2.bias"}


def test_forward_hooks_are_value_errors():
    m = encoder_layer()
    m.linear1.register_forward_hook(lambda module, args, out: out * 2)
    with pytest.raises(
        ValueError, match="module.linear1: has forward hooks, which may change what it computes"
    ):
        from_torch(m)
    m = tnn.Linear(2, 2)
    m.register_forward_pre_hook(lambda module, args: args)
    with pytest.raises(ValueError, match="module: has forward hooks"):
        from_torch(m)


def test_a_replaced_submodule_is_a_type_error_naming_it():
    m = encoder_layer()
    m.dropout1 = tnn.Identity()
    with pytest.raises(
        TypeError,
        match=r"module.dropout1: torch.nn.modules.linear.Identity is not "
        r"a module attnlab converts here \(its counterpart would "
        r"be attnlab.nn.dropout.Dropout\)",
    ):
        from_torch(m)


def test_an_extra_submodule_on_either_side_is_a_type_error():
    m = encoder_layer()
    m.extra = tnn.ReLU()
    with pytest.raises(
        TypeError,
        match="module.extra: torch.nn.modules.activation.ReLU has no "
        "counterpart in the attnlab module",
    ):
        from_torch(m)
    ours = al.nn.TransformerEncoderLayer(D, H, 16)
    ours.extra = al.nn.ReLU()
    with pytest.raises(
        TypeError,
        match="module.extra: attnlab.nn.activation.ReLU has no counterpart in the torch module",
    ):
        to_torch(ours)


def test_weights_of_another_layout_are_a_value_error():
    m = encoder_layer()
    m.linear2.bias = None  # linear1 has one: one bias flag cannot build this layer
    with pytest.raises(
        ValueError,
        match=r"module: the weights of .*TransformerEncoderLayer do not "
        r"fit .*TransformerEncoderLayer, a layout attnlab cannot "
        r"express: .*missing key 'linear2.bias'",
    ):
        from_torch(m)


@pytest.mark.parametrize(
    "where,setting,value,message",
    [
        (
            "norm1",
            "eps",
            0.0,
            (
                r"module.norm1.eps \(attnlab's layer_norm needs eps > 0\): "
                r"expected a number > 0, got 0.0"
            ),
        ),
        (
            "dropout",
            "p",
            1.0,
            r"module.dropout.p: expected 0 <= p < 1 \(attnlab's dropout\), got 1.0",
        ),
        (
            "self_attn",
            "dropout",
            float("nan"),
            "module.self_attn.dropout: expected a finite number",
        ),
    ],
)
def test_invalid_settings_are_value_errors(where, setting, value, message):
    m = encoder_layer()
    setattr(getattr(m, where), setting, value)
    with pytest.raises(ValueError, match=message):
        from_torch(m)


def test_rotary_settings_are_checked_by_attnlabs_rotary_embedding():
    theirs = to_torch(al.models.GPT(5, 4, n_layer=1, n_head=1, d_model=8, positions="rotary"))
    theirs.blocks[0].attn.positions.rotary_dim = 5
    with pytest.raises(
        ValueError,
        match="module.blocks.0.attn.positions: rotary_dim: expected an even int <= dim=8, got 5",
    ):
        from_torch(theirs)


def test_gelu_approximation_carries_over(rng):
    gpt = al.models.GPT(5, 4, n_layer=1, n_head=1, d_model=8)
    gpt.blocks[0].mlp.gelu.approximate = "tanh"
    theirs = to_torch(gpt.eval())
    assert theirs.blocks[0].mlp.gelu.approximate == "tanh"
    idx = rng.integers(0, 5, (2, 4))
    with torch.no_grad():
        np.testing.assert_allclose(gpt(idx).data, theirs(torch.from_numpy(idx)).numpy(), atol=1e-5)
    again = from_torch(theirs)
    assert again.blocks[0].mlp.gelu.approximate == "tanh"
    same_arrays(gpt.state_dict(), again.state_dict())


def test_every_pair_class_is_convertible_or_built_by_a_converter():
    """The pairs table names only classes that exist on each side (no stale entries)."""
    from attnlab.interop.transfer import PAIRS

    assert all(issubclass(a, al.nn.Module) and issubclass(t, tnn.Module) for a, t in PAIRS)
    assert (al.nn.MultiheadAttention, models.TorchCausalSelfAttention) in PAIRS
