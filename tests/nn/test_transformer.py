"""nn/transformer_encoder.py, transformer_decoder.py, transformer.py: torch.nn's layers' state
dicts load under the same names (and back), outputs and gradients agree in eval and train
mode with key padding and causal masks; gradcheck of every option; argument errors."""

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import gradcheck
from torch_compare import assert_backward_matches, randomize, to_numpy

nn = al.nn

D_MODEL, NHEAD, D_FF = 8, 2, 12


def load_both_ways(torch, ours, theirs):
    randomize(torch, theirs, 0.4)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(to_numpy(theirs.state_dict()))
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})


def torch_causal(torch, n):
    """torch's bool attn_mask for causal attention: True = may not attend."""
    return torch.tensor(~np.tril(np.ones((n, n), dtype=bool)))


def key_masks(b, l):
    km = np.ones((b, l), dtype=bool)
    km[0, l - 2 :] = False
    return km


def compare(torch, ours, theirs, our_inputs, run_ours, run_theirs, rng):
    xs = [al.tensor(x, requires_grad=True) for x in our_inputs]
    ts = [torch.tensor(x, requires_grad=True) for x in our_inputs]
    out, ref = run_ours(*xs), run_theirs(*ts)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=1e-5, rtol=1e-5)
    assert_backward_matches(torch, rng, ours, theirs, out, ref, xs, ts)


# Every option in eval mode; train mode (dropout 0) with every mask, post-norm relu.
KINDS = ("none", "key_mask", "causal")
LAYER_CASES = [
    (nf, act, "eval", kind) for nf in (False, True) for act in ("relu", "gelu") for kind in KINDS
] + [(False, "relu", "train", kind) for kind in KINDS]


def layer_kwargs(nf, act):
    return dict(dim_feedforward=D_FF, dropout=0.0, activation=act, norm_first=nf)


@pytest.mark.parametrize("norm_first,activation,mode,kind", LAYER_CASES)
def test_encoder_layer_matches_torch(torch, rng, norm_first, activation, mode, kind):
    b, l = 2, 5
    t = torch.nn.TransformerEncoderLayer(
        D_MODEL, NHEAD, batch_first=True, **layer_kwargs(norm_first, activation)
    )
    m = nn.TransformerEncoderLayer(D_MODEL, NHEAD, **layer_kwargs(norm_first, activation))
    load_both_ways(torch, m, t)
    getattr(m, mode)(), getattr(t, mode)()
    km = key_masks(b, l)
    causal = kind == "causal"
    ours = dict(key_mask=km if kind == "key_mask" else None, is_causal=causal)
    theirs = dict(
        src_key_padding_mask=torch.tensor(~km) if kind == "key_mask" else None,
        src_mask=torch_causal(torch, l) if causal else None,
        is_causal=causal,
    )
    x = rng.standard_normal((b, l, D_MODEL)).astype(np.float32)
    compare(torch, m, t, [x], lambda x: m(x, **ours), lambda x: t(x, **theirs), rng)


@pytest.mark.parametrize("norm_first,activation,mode,kind", LAYER_CASES)
def test_decoder_layer_matches_torch(torch, rng, norm_first, activation, mode, kind):
    b, lt, ls = 2, 4, 6
    t = torch.nn.TransformerDecoderLayer(
        D_MODEL, NHEAD, batch_first=True, **layer_kwargs(norm_first, activation)
    )
    m = nn.TransformerDecoderLayer(D_MODEL, NHEAD, **layer_kwargs(norm_first, activation))
    load_both_ways(torch, m, t)
    getattr(m, mode)(), getattr(t, mode)()
    tkm, mkm = key_masks(b, lt), key_masks(b, ls)
    padded, causal = kind == "key_mask", kind == "causal"
    ours = dict(
        tgt_key_mask=tkm if padded else None,
        memory_key_mask=mkm if padded else None,
        tgt_is_causal=causal,
    )
    theirs = dict(
        tgt_key_padding_mask=torch.tensor(~tkm) if padded else None,
        memory_key_padding_mask=torch.tensor(~mkm) if padded else None,
        tgt_mask=torch_causal(torch, lt) if causal else None,
        tgt_is_causal=causal,
    )
    tgt = rng.standard_normal((b, lt, D_MODEL)).astype(np.float32)
    memory = rng.standard_normal((b, ls, D_MODEL)).astype(np.float32)
    compare(
        torch,
        m,
        t,
        [tgt, memory],
        lambda x, y: m(x, y, **ours),
        lambda x, y: t(x, y, **theirs),
        rng,
    )


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning")  # torch's, pre-norm
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_torch(torch, rng, norm_first):
    b, ls, lt = 2, 6, 5
    kwargs = dict(
        d_model=D_MODEL,
        nhead=NHEAD,
        num_encoder_layers=2,
        num_decoder_layers=2,
        dim_feedforward=D_FF,
        dropout=0.0,
        norm_first=norm_first,
    )
    t = torch.nn.Transformer(batch_first=True, **kwargs)
    m = nn.Transformer(**kwargs)
    assert "encoder.layers.1.self_attn.in_proj_weight" in m.state_dict()
    assert "encoder.norm.weight" in m.state_dict() and "decoder.norm.bias" in m.state_dict()
    load_both_ways(torch, m, t)
    m.train(), t.train()
    skm, tkm = key_masks(b, ls), key_masks(b, lt)
    ours = dict(src_key_mask=skm, tgt_key_mask=tkm, memory_key_mask=skm, tgt_is_causal=True)
    theirs = dict(
        src_key_padding_mask=torch.tensor(~skm),
        tgt_key_padding_mask=torch.tensor(~tkm),
        memory_key_padding_mask=torch.tensor(~skm),
        tgt_is_causal=True,
        tgt_mask=torch_causal(torch, lt),
    )
    src = rng.standard_normal((b, ls, D_MODEL)).astype(np.float32)
    tgt = rng.standard_normal((b, lt, D_MODEL)).astype(np.float32)
    compare(
        torch, m, t, [src, tgt], lambda s, g: m(s, g, **ours), lambda s, g: t(s, g, **theirs), rng
    )


def randomized(module, rng):
    module.double()
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    return module


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "swiglu"])
def test_encoder_layer_gradcheck(rng, activation, norm_first):
    m = randomized(
        nn.TransformerEncoderLayer(
            4, 2, 3, dropout=0.0, activation=activation, norm_first=norm_first
        ),
        rng,
    )
    x = al.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    km = np.array([[1, 1, 0], [1, 1, 1]], bool)
    assert gradcheck(lambda x, *ps: m(x, key_mask=km, is_causal=True), (x, *m.parameters()))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_gradcheck(rng, norm_first):
    m = randomized(
        nn.TransformerDecoderLayer(
            4,
            2,
            3,
            dropout=0.0,
            activation="swiglu",
            norm_first=norm_first,
            num_kv_heads=1,
            positions="rotary",
        ),
        rng,
    )
    tgt = al.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    memory = al.tensor(rng.standard_normal((2, 4, 4)), requires_grad=True)
    mkm = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    assert gradcheck(
        lambda t, mem, *ps: m(t, mem, tgt_is_causal=True, memory_key_mask=mkm),
        (tgt, memory, *m.parameters()),
    )


def test_swiglu_layout_gate_first(rng):
    """linear1 gives [gate | value]: silu(gate) * value."""
    m = nn.TransformerEncoderLayer(4, 2, 3, dropout=0.0, activation="swiglu")
    assert m.linear1.weight.shape == (6, 4) and m.linear2.weight.shape == (4, 3)
    h = rng.standard_normal((2, 6))
    gate, value = h[:, :3], h[:, 3:]
    expected = gate / (1 + np.exp(-gate)) * value
    np.testing.assert_allclose(nn.SwiGLU()(al.tensor(h)).data, expected, atol=1e-12)
    assert isinstance(m.activation, nn.SwiGLU)
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    h1 = m.norm1(x + m.self_attn(x)).data.astype(np.float64)
    w1, b1 = m.linear1.weight.data, m.linear1.bias.data
    pre = h1 @ w1.T + b1  # (B, L, 6): rows 0..2 of linear1 are the gate
    ff = (pre[..., :3] / (1 + np.exp(-pre[..., :3])) * pre[..., 3:]) @ m.linear2.weight.data.T
    expected = m.norm2(al.tensor((h1 + ff + m.linear2.bias.data).astype(np.float32))).data
    np.testing.assert_allclose(m(x).data, expected, atol=1e-5)


def test_callable_activation_and_deep_copies(rng):
    layer = nn.TransformerEncoderLayer(4, 2, 8, activation=lambda x: x.tanh())
    enc = nn.TransformerEncoder(layer, 3)
    assert len(enc.layers) == 3 and enc.norm is None
    ids = {id(l.self_attn.in_proj_weight) for l in enc.layers} | {
        id(layer.self_attn.in_proj_weight)
    }
    assert len(ids) == 4  # independent copies, as torch's _get_clones
    np.testing.assert_array_equal(enc.layers[0].linear1.weight.data, layer.linear1.weight.data)
    x = rng.standard_normal((1, 3, 4)).astype(np.float32)
    assert enc.eval()(x).shape == (1, 3, 4)
    assert "norm.weight" not in enc.state_dict()


def test_generate_square_subsequent_mask():
    np.testing.assert_array_equal(
        nn.Transformer.generate_square_subsequent_mask(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    )


def test_argument_errors():
    with pytest.raises(ValueError, match="batch_first: attnlab is batch-first"):
        nn.TransformerEncoderLayer(4, 2, batch_first=False)
    with pytest.raises(ValueError, match="batch_first"):
        nn.TransformerDecoderLayer(4, 2, batch_first=False)
    with pytest.raises(ValueError, match="batch_first"):
        nn.Transformer(4, 2, batch_first=False)
    with pytest.raises(ValueError, match="activation: expected one of"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")
    with pytest.raises(TypeError, match="encoder_layer: expected a Module"):
        nn.TransformerEncoder("layer", 2)


LAYERS = {
    "encoder layer": nn.TransformerEncoderLayer,
    "decoder layer": nn.TransformerDecoderLayer,
    "transformer": nn.Transformer,
}


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            dict(d_model=4, nhead=3),
            ValueError,
            r"d_model: 4 is not divisible by nhead=3 \(each head",
        ),
        (dict(d_model=4, nhead=0), ValueError, "nhead: must be positive, got 0"),
        (dict(d_model=0, nhead=2), ValueError, "d_model: must be positive, got 0"),
        (dict(d_model=4.0, nhead=2), TypeError, "d_model: expected an int, got float"),
        (
            dict(d_model=4, nhead=2, dim_feedforward=0),
            ValueError,
            "dim_feedforward: must be positive, got 0",
        ),
        (dict(d_model=4, nhead=2, dropout=1.0), ValueError, "dropout: expected 0 <= dropout < 1"),
        (dict(d_model=4, nhead=2, dropout=-0.1), ValueError, "dropout: expected 0 <= dropout < 1"),
        (
            dict(d_model=4, nhead=2, layer_norm_eps=0.0),
            ValueError,
            "layer_norm_eps: expected a number > 0",
        ),
        (
            dict(d_model=4, nhead=2, layer_norm_eps="1e-5"),
            TypeError,
            "layer_norm_eps: expected a real number, got str",
        ),
        (
            dict(d_model=4, nhead=2, norm_first="yes"),
            TypeError,
            "norm_first: expected a bool, got str",
        ),
        (dict(d_model=4, nhead=2, bias=1), TypeError, "bias: expected a bool, got int"),
    ],
)
@pytest.mark.parametrize("layer", LAYERS)
def test_constructor_errors_name_the_callers_argument(layer, kwargs, error, message):
    with pytest.raises(error, match=message):
        LAYERS[layer](**kwargs)


@pytest.mark.parametrize("layer", ["encoder layer", "decoder layer"])
def test_layer_num_kv_heads_errors(layer):
    with pytest.raises(ValueError, match="nhead: 4 is not divisible by num_kv_heads=3"):
        LAYERS[layer](8, 4, num_kv_heads=3)
    with pytest.raises(ValueError, match="num_kv_heads: must be positive, got 0"):
        LAYERS[layer](8, 4, num_kv_heads=0)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            dict(num_encoder_layers=-1),
            ValueError,
            "num_encoder_layers: expected a size >= 0, got -1",
        ),
        (dict(num_decoder_layers=1.5), TypeError, "num_decoder_layers: expected an int, got float"),
        (
            dict(custom_encoder="encoder"),
            TypeError,
            "custom_encoder: expected a Module or None, got str",
        ),
        (dict(custom_decoder=3), TypeError, "custom_decoder: expected a Module or None, got int"),
    ],
)
def test_transformer_constructor_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        nn.Transformer(4, 2, **kwargs)


B, LS, LT = 2, 5, 3
SRC = np.zeros((B, LS, D_MODEL), np.float32)
TGT = np.zeros((B, LT, D_MODEL), np.float32)


ENCODER_ERRORS = [
    ((SRC[0],), {}, ValueError, r"src: expected 3 dimensions \(B, L, C\)"),
    ((SRC[..., :4],), {}, ValueError, r"src: axis 2 \(C\) has size 4, expected d_model=8"),
    ((SRC.tolist(),), {}, TypeError, "src: expected a Tensor or ndarray"),
    ((SRC.astype(np.float64),), {}, TypeError, "src: dtype float64 does not match the module's"),
    (
        (SRC,),
        dict(key_mask=np.ones((B, 4), bool)),
        ValueError,
        r"key_mask: expected shape \(B, Lk\) = \(2, 5\), got \(2, 4\)",
    ),
    (
        (SRC,),
        dict(mask=np.ones((4, 4), bool)),
        ValueError,
        r"mask: shape \(4, 4\) is not broadcastable",
    ),
    ((SRC,), dict(is_causal=1), TypeError, "is_causal: expected a bool, got int"),
]


DECODER_ERRORS = [
    ((TGT[..., :4], SRC), {}, ValueError, r"tgt: axis 2 \(C\) has size 4, expected d_model=8"),
    ((TGT, SRC[..., :4]), {}, ValueError, r"memory: axis 2 \(C\) has size 4, expected d_model=8"),
    ((TGT, SRC[:1]), {}, ValueError, r"memory: axis 0 \(B\) has size 1, expected tgt's 2"),
    ((TGT, SRC.astype(np.float64)), {}, TypeError, "memory: dtype float64 does not match"),
    (
        (TGT, SRC),
        dict(memory_key_mask=np.ones((B, 4), bool)),
        ValueError,
        r"memory_key_mask: expected shape \(B, Lk\) = \(2, 5\), got \(2, 4\)",
    ),
    (
        (TGT, SRC),
        dict(memory_key_mask=np.ones((B, LS), np.float32)),
        TypeError,
        "memory_key_mask: expected dtype bool or 0/1 integers",
    ),
    (
        (TGT, SRC),
        dict(memory_key_mask=np.full((B, LS), 2)),
        ValueError,
        "memory_key_mask: integer masks hold only 0",
    ),
    (
        (TGT, SRC),
        dict(tgt_key_mask=np.ones((B, LS), bool)),
        ValueError,
        r"tgt_key_mask: expected shape \(B, Lk\) = \(2, 3\), got \(2, 5\)",
    ),
    (
        (TGT, SRC),
        dict(tgt_mask=np.ones((LT, LT), np.int64)),
        TypeError,
        "tgt_mask: expected dtype bool, got int64",
    ),
    (
        (TGT, SRC),
        dict(tgt_mask=np.ones((LS, LT), bool)),
        ValueError,
        r"tgt_mask: shape \(5, 3\) is not broadcastable to \(B, H, Lq, Lk\) = \(2, 2, 3, 3\)",
    ),
    (
        (TGT, SRC),
        dict(memory_mask=np.ones((LT, LT), bool)),
        ValueError,
        r"memory_mask: shape \(3, 3\) is not broadcastable to \(B, H, Lq, Lk\) = \(2, 2, 3, 5\)",
    ),
    ((TGT, SRC), dict(tgt_is_causal="yes"), TypeError, "tgt_is_causal: expected a bool, got str"),
    ((TGT, SRC), dict(memory_is_causal=0), TypeError, "memory_is_causal: expected a bool, got int"),
]


@pytest.mark.parametrize(
    "layer_type, stack_type, args, kwargs, error, message",
    [
        *[(nn.TransformerEncoderLayer, nn.TransformerEncoder, *case) for case in ENCODER_ERRORS],
        *[(nn.TransformerDecoderLayer, nn.TransformerDecoder, *case) for case in DECODER_ERRORS],
    ],
)
@pytest.mark.parametrize("norm_first", [False, True])
def test_layer_forward_errors_name_the_callers_argument(
    layer_type, stack_type, args, kwargs, error, message, norm_first
):
    layer = layer_type(D_MODEL, NHEAD, D_FF, norm_first=norm_first)
    for module in (layer, stack_type(layer, 2)):  # a stack's first layer checks its input
        with pytest.raises(error, match=message):
            module(*args, **kwargs)


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((SRC[0], TGT), {}, ValueError, r"src: expected 3 dimensions \(B, L, C\)"),
        ((SRC, TGT[..., :4]), {}, ValueError, r"tgt: axis 2 \(C\) has size 4, expected d_model=8"),
        ((SRC.tolist(), TGT), {}, TypeError, "src: expected a Tensor or ndarray"),
        ((SRC, TGT[:1]), {}, ValueError, r"tgt: axis 0 \(B\) has size 1, expected src's 2"),
        ((SRC, TGT.astype(np.float64)), {}, TypeError, "tgt: dtype float64 does not match"),
        (
            (SRC, TGT),
            dict(src_key_mask=np.ones((B, 4), bool)),
            ValueError,
            r"src_key_mask: expected shape \(B, Lk\) = \(2, 5\), got \(2, 4\)",
        ),
        (
            (SRC, TGT),
            dict(src_mask=np.zeros((LS, LS), np.float32)),
            TypeError,
            "src_mask: expected dtype bool, got float32",
        ),
        (
            (SRC, TGT),
            dict(src_mask=np.ones((LT, LT), bool)),
            ValueError,
            r"src_mask: shape \(3, 3\) is not broadcastable",
        ),
        ((SRC, TGT), dict(src_is_causal=None), TypeError, "src_is_causal: expected a bool"),
        (
            (SRC, TGT),
            dict(tgt_key_mask=np.ones((B, LS), bool)),
            ValueError,
            r"tgt_key_mask: expected shape \(B, Lk\) = \(2, 3\), got \(2, 5\)",
        ),
        (
            (SRC, TGT),
            dict(tgt_mask=np.ones((LS, LS), bool)),
            ValueError,
            r"tgt_mask: shape \(5, 5\) is not broadcastable",
        ),
        (
            (SRC, TGT),
            dict(memory_key_mask=np.ones((B, LT), bool)),
            ValueError,
            r"memory_key_mask: expected shape \(B, Lk\) = \(2, 5\), got \(2, 3\)",
        ),
        (
            (SRC, TGT),
            dict(memory_mask=np.ones((LS, LT), bool)),
            ValueError,
            r"memory_mask: shape \(5, 3\) is not broadcastable",
        ),
        ((SRC, TGT), dict(tgt_is_causal=1), TypeError, "tgt_is_causal: expected a bool"),
        ((SRC, TGT), dict(memory_is_causal="no"), TypeError, "memory_is_causal: expected a bool"),
    ],
)
def test_transformer_forward_errors_name_the_callers_argument(args, kwargs, error, message):
    model = nn.Transformer(D_MODEL, NHEAD, 1, 1, D_FF, norm_first=True)
    with pytest.raises(error, match=message):
        model(*args, **kwargs)


def test_masks_given_as_key_masks_or_combined_give_the_same_output(rng):
    """The layers check and combine each mask with its key mask before the attention runs."""
    model = nn.Transformer(D_MODEL, NHEAD, 1, 1, D_FF, dropout=0.0)
    src = rng.standard_normal((B, LS, D_MODEL)).astype(np.float32)
    tgt = rng.standard_normal((B, LT, D_MODEL)).astype(np.float32)
    real = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])  # 0/1 ints: a tokenizer's attention_mask
    keys = real.astype(bool)[:, None, None, :]  # (B, 1, 1, Ls)
    out = model(src, tgt, src_key_mask=real, memory_key_mask=real, tgt_is_causal=True)
    same = model(src, tgt, src_mask=keys, memory_mask=keys, tgt_is_causal=True)
    np.testing.assert_array_equal(out.data, same.data)
