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
    km[0, l - 2:] = False
    return km


def compare(torch, ours, theirs, our_inputs, run_ours, run_theirs, rng):
    xs = [al.tensor(x, requires_grad=True) for x in our_inputs]
    ts = [torch.tensor(x, requires_grad=True) for x in our_inputs]
    out, ref = run_ours(*xs), run_theirs(*ts)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=1e-5, rtol=1e-5)
    assert_backward_matches(torch, rng, ours, theirs, out, ref, xs, ts)


# Every option in eval mode; train mode (dropout 0) with every mask, post-norm relu.
KINDS = ("none", "key_mask", "causal")
LAYER_CASES = ([(nf, act, "eval", kind) for nf in (False, True) for act in ("relu", "gelu")
                for kind in KINDS] + [(False, "relu", "train", kind) for kind in KINDS])


def layer_kwargs(nf, act):
    return dict(dim_feedforward=D_FF, dropout=0.0, activation=act, norm_first=nf)


@pytest.mark.parametrize("norm_first,activation,mode,kind", LAYER_CASES)
def test_encoder_layer_matches_torch(torch, rng, norm_first, activation, mode, kind):
    b, l = 2, 5
    t = torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, batch_first=True, **layer_kwargs(norm_first, activation))
    m = nn.TransformerEncoderLayer(D_MODEL, NHEAD, **layer_kwargs(norm_first, activation))
    load_both_ways(torch, m, t)
    getattr(m, mode)(), getattr(t, mode)()
    km = key_masks(b, l)
    causal = kind == "causal"
    ours = dict(key_mask=km if kind == "key_mask" else None, is_causal=causal)
    theirs = dict(src_key_padding_mask=torch.tensor(~km) if kind == "key_mask" else None,
                  src_mask=torch_causal(torch, l) if causal else None,
                  is_causal=causal)
    x = rng.standard_normal((b, l, D_MODEL)).astype(np.float32)
    compare(torch, m, t, [x], lambda x: m(x, **ours), lambda x: t(x, **theirs), rng)


@pytest.mark.parametrize("norm_first,activation,mode,kind", LAYER_CASES)
def test_decoder_layer_matches_torch(torch, rng, norm_first, activation, mode, kind):
    b, lt, ls = 2, 4, 6
    t = torch.nn.TransformerDecoderLayer(D_MODEL, NHEAD, batch_first=True, **layer_kwargs(norm_first, activation))
    m = nn.TransformerDecoderLayer(D_MODEL, NHEAD, **layer_kwargs(norm_first, activation))
    load_both_ways(torch, m, t)
    getattr(m, mode)(), getattr(t, mode)()
    tkm, mkm = key_masks(b, lt), key_masks(b, ls)
    padded, causal = kind == "key_mask", kind == "causal"
    ours = dict(tgt_key_mask=tkm if padded else None, memory_key_mask=mkm if padded else None,
                tgt_is_causal=causal)
    theirs = dict(tgt_key_padding_mask=torch.tensor(~tkm) if padded else None,
                  memory_key_padding_mask=torch.tensor(~mkm) if padded else None,
                  tgt_mask=torch_causal(torch, lt) if causal else None,
                  tgt_is_causal=causal)
    tgt = rng.standard_normal((b, lt, D_MODEL)).astype(np.float32)
    memory = rng.standard_normal((b, ls, D_MODEL)).astype(np.float32)
    compare(torch, m, t, [tgt, memory], lambda x, y: m(x, y, **ours), lambda x, y: t(x, y, **theirs), rng)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning")  # torch's, pre-norm
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_torch(torch, rng, norm_first):
    b, ls, lt = 2, 6, 5
    kwargs = dict(d_model=D_MODEL, nhead=NHEAD, num_encoder_layers=2, num_decoder_layers=2,
                  dim_feedforward=D_FF, dropout=0.0, norm_first=norm_first)
    t = torch.nn.Transformer(batch_first=True, **kwargs)
    m = nn.Transformer(**kwargs)
    assert "encoder.layers.1.self_attn.in_proj_weight" in m.state_dict()
    assert "encoder.norm.weight" in m.state_dict() and "decoder.norm.bias" in m.state_dict()
    load_both_ways(torch, m, t)
    m.train(), t.train()
    skm, tkm = key_masks(b, ls), key_masks(b, lt)
    ours = dict(src_key_mask=skm, tgt_key_mask=tkm, memory_key_mask=skm, tgt_is_causal=True)
    theirs = dict(src_key_padding_mask=torch.tensor(~skm), tgt_key_padding_mask=torch.tensor(~tkm),
                  memory_key_padding_mask=torch.tensor(~skm), tgt_is_causal=True,
                  tgt_mask=torch_causal(torch, lt))
    src = rng.standard_normal((b, ls, D_MODEL)).astype(np.float32)
    tgt = rng.standard_normal((b, lt, D_MODEL)).astype(np.float32)
    compare(torch, m, t, [src, tgt], lambda s, g: m(s, g, **ours), lambda s, g: t(s, g, **theirs), rng)


def randomized(module, rng):
    module.double()
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    return module


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "swiglu"])
def test_encoder_layer_gradcheck(rng, activation, norm_first):
    m = randomized(nn.TransformerEncoderLayer(4, 2, 3, dropout=0.0, activation=activation,
                                              norm_first=norm_first), rng)
    x = al.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    km = np.array([[1, 1, 0], [1, 1, 1]], bool)
    assert gradcheck(lambda x, *ps: m(x, key_mask=km, is_causal=True), (x, *m.parameters()))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_gradcheck(rng, norm_first):
    m = randomized(nn.TransformerDecoderLayer(4, 2, 3, dropout=0.0, activation="swiglu",
                                              norm_first=norm_first, num_kv_heads=1,
                                              positions="rotary"), rng)
    tgt = al.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    memory = al.tensor(rng.standard_normal((2, 4, 4)), requires_grad=True)
    mkm = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    assert gradcheck(lambda t, mem, *ps: m(t, mem, tgt_is_causal=True, memory_key_mask=mkm),
                     (tgt, memory, *m.parameters()))


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
    ids = {id(l.self_attn.in_proj_weight) for l in enc.layers} | {id(layer.self_attn.in_proj_weight)}
    assert len(ids) == 4  # independent copies, as torch's _get_clones
    np.testing.assert_array_equal(enc.layers[0].linear1.weight.data, layer.linear1.weight.data)
    x = rng.standard_normal((1, 3, 4)).astype(np.float32)
    assert enc.eval()(x).shape == (1, 3, 4)
    assert "norm.weight" not in enc.state_dict()


def test_generate_square_subsequent_mask():
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(3),
                                  [[1, 0, 0], [1, 1, 0], [1, 1, 1]])


def test_argument_errors():
    with pytest.raises(ValueError, match="batch_first: attnlab is batch-first"):
        nn.TransformerEncoderLayer(4, 2, batch_first=False)
    with pytest.raises(ValueError, match="batch_first"):
        nn.TransformerDecoderLayer(4, 2, batch_first=False)
    with pytest.raises(ValueError, match="batch_first"):
        nn.Transformer(4, 2, batch_first=False)
    with pytest.raises(ValueError, match="activation: expected one of"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")
    with pytest.raises(ValueError, match="embed_dim: 4 is not divisible by num_heads=3"):
        nn.TransformerEncoderLayer(4, 3)
    with pytest.raises(TypeError, match="encoder_layer: expected a Module"):
        nn.TransformerEncoder("layer", 2)
    m = nn.Transformer(4, 2, 1, 1, 8)
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="tgt: axis 0 \\(B\\) has size 1, expected src's 2"):
        m(x, x[:1])
    with pytest.raises(ValueError, match="src: expected \\(B, L, d_model=4\\)"):
        m(x[0], x)
