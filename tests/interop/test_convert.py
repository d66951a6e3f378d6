"""interop/convert.py and the builders' checks (layers.py): what cannot convert says so, naming
the argument's path and the class or setting: a TypeError for a module attnlab does not
convert, a ValueError for a setting the other side cannot express (RELIABILITY item 36)."""

import numpy as np
import pytest

import attnlab as al

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional
from attnlab.interop import from_torch, to_torch  # noqa: E402

D, H = 8, 2


def encoder_layer(**options):
    return tnn.TransformerEncoderLayer(D, H, 16, 0.0, batch_first=True, **options)


def test_arguments_must_be_modules_of_each_side():
    with pytest.raises(TypeError, match="module: expected a torch.nn.Module, got int"):
        from_torch(3)
    with pytest.raises(TypeError, match="module: expected an attnlab.nn.Module, got Linear"):
        to_torch(tnn.Linear(2, 2))
    with pytest.raises(TypeError, match="module: expected a torch.nn.Module, got Linear"):
        from_torch(al.nn.Linear(2, 2))


class MyLinear(tnn.Linear):
    """A subclass may compute something else: it does not convert as its base."""


class MyGPT(al.models.GPT):
    pass


@pytest.mark.parametrize(
    "module,name",
    [
        (tnn.Conv1d(2, 2, 1), "torch.nn.modules.conv.Conv1d"),
        (MyLinear(2, 2), "test_convert.MyLinear"),
        (tnn.Sequential(tnn.Linear(2, 2)), "torch.nn.modules.container.Sequential"),
    ],
)
def test_unsupported_torch_module_is_a_type_error_naming_its_class(module, name):
    with pytest.raises(
        TypeError,
        match=rf"module: attnlab does not convert [\w.]*{name}; it "
        r"converts exactly these classes: Embedding, LayerNorm",
    ):
        from_torch(module)


def test_wrappers_say_what_to_convert():
    with pytest.raises(TypeError, match=r"DataParallel \(a wrapper: convert its \.module\)"):
        from_torch(tnn.DataParallel(tnn.Linear(2, 2)))


def test_unsupported_submodule_names_its_path():
    m = tnn.TransformerEncoder(encoder_layer(), 1, tnn.RMSNorm(D), enable_nested_tensor=False)
    with pytest.raises(
        TypeError,
        match=r"module\.norm: attnlab does not convert "
        r"torch\.nn\.modules\.normalization\.RMSNorm",
    ):
        from_torch(m)


@pytest.mark.parametrize(
    "module,name",
    [
        (al.nn.RMSNorm(4), "attnlab.nn.normalization.RMSNorm"),
        (al.nn.Sequential(al.nn.Linear(2, 2)), "attnlab.nn.container.Sequential"),
        (MyGPT(5, 4, n_layer=1, n_head=1, d_model=4), "test_convert.MyGPT"),
    ],
)
def test_attnlab_module_without_torch_counterpart_is_a_type_error(module, name):
    with pytest.raises(
        TypeError,
        match=rf"module: attnlab does not convert [\w.]*{name}; it "
        r"converts exactly these classes: Embedding, Encoder",
    ):
        to_torch(module)


def test_replaced_children_name_their_path():
    layer = encoder_layer()
    layer.self_attn = tnn.Linear(D, D)
    with pytest.raises(
        TypeError, match="module.self_attn: expected MultiheadAttention, got Linear"
    ):
        from_torch(layer)
    stack = tnn.TransformerEncoder(encoder_layer(), 2, enable_nested_tensor=False)
    stack.layers[1] = tnn.Linear(D, D)
    with pytest.raises(
        TypeError, match="module.layers.1: expected TransformerEncoderLayer, got Linear"
    ):
        from_torch(stack)
    ours = al.nn.Transformer(D, H, 1, 1, 16)
    ours.encoder = al.nn.TransformerEncoderLayer(D, H, 16)
    with pytest.raises(
        TypeError, match="module.encoder: expected TransformerEncoder, got TransformerEncoderLayer"
    ):
        to_torch(ours)


@pytest.mark.parametrize(
    "activation,name",
    [
        (lambda x: x, "<lambda>"),
        (TF.silu, "silu"),
        (tnn.SiLU(), "SiLU\\(\\)"),
        (tnn.GELU("tanh"), "GELU\\(approximate='tanh'\\); torch's inference fast path"),
    ],
)
def test_torch_activation_attnlab_does_not_run_is_a_value_error(activation, name):
    with pytest.raises(ValueError, match=f"module.activation: {name}"):
        from_torch(tnn.TransformerDecoderLayer(D, H, 16, 0.0, activation))
    stack = tnn.TransformerEncoder(
        encoder_layer(activation=activation), 2, enable_nested_tensor=False
    )
    with pytest.raises(ValueError, match=f"module.layers.0.activation: {name}"):
        from_torch(stack)


@pytest.mark.parametrize(
    "activation,name",
    [
        ("swiglu", "SwiGLU\\(\\)"),
        (al.nn.GELU("tanh"), "GELU\\(approximate='tanh'\\)"),
        (al.functional.silu, "silu"),
    ],
)
def test_attnlab_activation_torch_does_not_run_is_a_value_error(activation, name):
    with pytest.raises(
        ValueError,
        match=f"module.activation: {name} is not an activation "
        "torch's transformer layers run the same",
    ):
        to_torch(al.nn.TransformerEncoderLayer(D, H, 16, activation=activation))


@pytest.mark.parametrize(
    "options,message",
    [
        (
            {"positions": "rotary"},
            (
                "module.positions: RotaryEmbedding; "
                "torch.nn.MultiheadAttention has no relative positions"
            ),
        ),
        ({"positions": "t5"}, "module.positions: RelativePositionBias"),
        ({"num_kv_heads": 1}, r"module.num_kv_heads: 1 \(grouped-query heads, num_heads=2\)"),
    ],
)
def test_attention_torch_cannot_express_is_a_value_error(options, message):
    with pytest.raises(ValueError, match=message):
        to_torch(al.nn.MultiheadAttention(D, H, **options))
    with pytest.raises(ValueError, match=message.replace("module.", "module.self_attn.")):
        to_torch(al.nn.TransformerEncoderLayer(D, H, 16, **options))


def test_head_mask_is_not_dropped_silently():
    attn = al.nn.MultiheadAttention(D, H)
    attn.head_mask = [1, 0]
    with pytest.raises(ValueError, match=r"module.head_mask: set; .* \(set head_mask = None"):
        to_torch(attn)
    layer = al.nn.TransformerDecoderLayer(D, H, 16)
    layer.multihead_attn.head_mask = [0, 1]
    with pytest.raises(ValueError, match="module.multihead_attn.head_mask: set"):
        to_torch(layer)


@pytest.mark.parametrize(
    "option,value", [("max_norm", 1.0), ("scale_grad_by_freq", True), ("sparse", True)]
)
def test_embedding_options_attnlab_lacks_are_value_errors(option, value):
    with pytest.raises(
        ValueError, match=f"module.{option}: {value}; attnlab's Embedding has no such option"
    ):
        from_torch(tnn.Embedding(5, 3, **{option: value}))


def test_layers_that_disagree_on_the_layout_are_a_value_error():
    encoder = tnn.TransformerEncoder(encoder_layer(), 1, enable_nested_tensor=False)
    decoder = tnn.TransformerDecoder(tnn.TransformerDecoderLayer(D, H, 16, 0.0), 1)  # seq-first
    m = tnn.Transformer(D, H, custom_encoder=encoder, custom_decoder=decoder, batch_first=True)
    with pytest.raises(ValueError, match="module: its layers disagree on batch_first"):
        from_torch(m)


def test_empty_stacks_are_value_errors():
    with pytest.raises(ValueError, match="module.layers: empty"):
        from_torch(tnn.TransformerEncoder(encoder_layer(), 0, enable_nested_tensor=False))
    with pytest.raises(ValueError, match="module.layers: empty"):
        to_torch(al.nn.TransformerDecoder(al.nn.TransformerDecoderLayer(D, H, 16), 0))


def test_batch_first_is_a_bool():
    with pytest.raises(TypeError, match="batch_first: expected a bool, got str"):
        to_torch(al.nn.Linear(2, 2), batch_first="yes")


def test_models_go_to_torch_batch_first_only():
    gpt = al.models.GPT(5, 4, n_layer=1, n_head=1, d_model=4)
    with pytest.raises(
        ValueError, match="batch_first: False; attnlab's models and their torch versions take"
    ):
        to_torch(gpt, batch_first=False)


def test_untied_gpt_weights_are_a_value_error():
    gpt = al.models.GPT(5, 4, n_layer=1, n_head=1, d_model=4)
    theirs = to_torch(gpt)
    gpt.lm_head.weight = al.nn.Parameter(gpt.wte.weight.data.copy())
    with pytest.raises(
        ValueError,
        match="module.lm_head.weight: a tensor of its own, but "
        "config.tie_weights says it is wte.weight",
    ):
        to_torch(gpt)
    theirs.lm_head.weight = tnn.Parameter(theirs.wte.weight.detach().clone())
    with pytest.raises(ValueError, match="module.lm_head.weight: a tensor of its own"):
        from_torch(theirs)


def test_layout_of_the_source_is_recorded_and_rebuilt():
    seq_first = tnn.TransformerEncoder(
        tnn.TransformerEncoderLayer(D, H, 16, 0.0), 2, enable_nested_tensor=False
    )
    ours = from_torch(seq_first)
    assert ours.torch_batch_first is False
    assert not to_torch(ours).layers[0].self_attn.batch_first
    assert to_torch(ours, batch_first=True).layers[1].self_attn.batch_first
    assert not hasattr(from_torch(tnn.Linear(2, 2)), "torch_batch_first")
    assert to_torch(al.nn.MultiheadAttention(D, H)).batch_first  # attnlab's own: batch-first


def test_weights_are_copies_both_ways():
    m = tnn.Linear(3, 2)
    before = m.weight.detach().clone()
    ours = from_torch(m)
    ours.weight.data[...] = 0
    assert torch.equal(m.weight, before)
    theirs = to_torch(ours)
    with torch.no_grad():
        theirs.weight.fill_(1)
    assert not ours.weight.data.any()
    assert np.array_equal(from_torch(theirs).weight.data, np.ones((2, 3), np.float32))
