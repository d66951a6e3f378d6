"""interop/layers.py: torch.nn's layers to attnlab and back. Outputs (and attention weights)
agree within 1e-5 in eval mode, with key padding and causal masks, in both of torch's layouts;
``to_torch(from_torch(m))`` gives m again (bitwise weights, the same settings), and
``from_torch(to_torch(a))`` an attnlab module's."""

import warnings

import numpy as np
import pytest

import attnlab as al
from torch_compare import close, randomize, same_arrays, same_state

torch = pytest.importorskip("torch")
tnn = torch.nn
from attnlab.interop import from_torch, to_torch  # noqa: E402

D, H, FF = 8, 2, 12
SETTINGS = (
    "batch_first",
    "norm_first",
    "eps",
    "p",
    "dropout",
    "add_zero_attn",
    "kdim",
    "vdim",
    "padding_idx",
    "normalized_shape",
    "elementwise_affine",
    "training",
    "approximate",
    "num_layers",
    "d_model",
    "nhead",
    "embed_dim",
    "num_heads",
)


def settings(module):
    """Each submodule's class and the settings torch keeps outside its state_dict."""
    out = {}
    for name, m in module.named_modules():
        values = {
            a: getattr(m, a)
            for a in SETTINGS
            if hasattr(m, a) and not isinstance(getattr(m, a), tnn.Module)
        }
        activation = getattr(m, "activation", None)
        values["activation"] = getattr(activation, "__name__", type(activation).__name__)
        out[name] = (type(m), values)
    return out


def round_trip(m):
    """from_torch(m), after checking that to_torch of it reproduces m."""
    ours = from_torch(m)
    back = to_torch(ours)
    assert type(back) is type(m)
    same_state(m, back)
    assert settings(back) == settings(m)
    return ours


def back_and_forth(ours):
    """from_torch(to_torch(ours)) holds ours' weights, bitwise."""
    again = from_torch(to_torch(ours))
    assert type(again) is type(ours)
    same_arrays(ours.state_dict(), again.state_dict())
    return again


def seq(x, batch_first):
    """A (B, L, C) array as torch's input in its layout."""
    return torch.from_numpy(np.ascontiguousarray(x if batch_first else x.transpose(1, 0, 2)))


def unseq(t, batch_first):
    return t if batch_first else t.transpose(0, 1)


def key_mask(b, length):
    """(B, L) True = real token; the last two keys of row 0 are padding."""
    km = np.ones((b, length), dtype=bool)
    km[0, -2:] = False
    return km


def padding(km):
    """torch's key_padding_mask of a key_mask."""
    return torch.from_numpy(~km)


def future(lq, lk):
    """torch's bool causal attn_mask (True = may not attend)."""
    return torch.from_numpy(~np.tril(np.ones((lq, lk), dtype=bool)))


def quietly(call, *args, **kwargs):
    """call(*args, **kwargs) without torch's own warnings about its nested tensors: a
    reference built with enable_nested_tensor on (torch's default) warns that it is off for
    pre-norm or seq-first layers, and its fast path that the nested tensor API is a prototype."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "enable_nested_tensor is True")
        warnings.filterwarnings("ignore", "The PyTorch API of nested tensors")
        return call(*args, **kwargs)


@pytest.mark.parametrize("bias", [True, False])
def test_linear(rng, bias):
    m = tnn.Linear(5, 3, bias=bias)
    ours = round_trip(m)
    x = rng.standard_normal((2, 4, 5)).astype(np.float32)
    close(ours(x), m(torch.from_numpy(x)))
    back_and_forth(ours)


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding(rng, padding_idx):
    m = tnn.Embedding(7, 4, padding_idx=padding_idx)
    ours = round_trip(m)
    assert ours.padding_idx == padding_idx
    idx = rng.integers(0, 7, (3, 5))
    close(ours(idx), m(torch.from_numpy(idx)), atol=0)
    back_and_forth(ours)


@pytest.mark.parametrize(
    "shape,affine,bias", [(6, True, True), ((3, 4), True, False), (6, False, True)]
)
def test_layer_norm(rng, shape, affine, bias):
    m = tnn.LayerNorm(shape, eps=1e-3, elementwise_affine=affine, bias=bias)
    randomize(torch, m)
    ours = round_trip(m)
    assert ours.eps == 1e-3
    normalized = (shape,) if isinstance(shape, int) else shape
    x = rng.standard_normal((2, 5, *normalized)).astype(np.float32)
    close(ours(x), m(torch.from_numpy(x)))
    back_and_forth(ours)


MHA_OPTIONS = [
    {},
    {"bias": False},
    {"kdim": 5, "vdim": 7},
    {"add_bias_kv": True},
    {"add_zero_attn": True},
    {"add_bias_kv": True, "add_zero_attn": True, "bias": False},
]


@pytest.mark.parametrize("masks", ["none", "padding", "mask"])
@pytest.mark.parametrize("options", MHA_OPTIONS, ids=lambda o: ",".join(o) or "default")
@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention(rng, batch_first, options, masks):
    b, lq, lk = 2, 4, 6
    m = tnn.MultiheadAttention(D, H, batch_first=batch_first, **options).eval()
    randomize(torch, m)
    ours = round_trip(m)
    assert ours.torch_batch_first is batch_first
    q = rng.standard_normal((b, lq, D)).astype(np.float32)
    k = rng.standard_normal((b, lk, options.get("kdim", D))).astype(np.float32)
    v = rng.standard_normal((b, lk, options.get("vdim", D))).astype(np.float32)
    km = key_mask(b, lk)
    allowed = np.tril(np.ones((lq, lk), dtype=bool), 1)
    theirs = {
        "padding": {"key_padding_mask": padding(km)},
        "mask": {"attn_mask": torch.from_numpy(~allowed)},
    }.get(masks, {})
    mine = {"padding": {"key_mask": km}, "mask": {"mask": allowed}}.get(masks, {})
    with torch.no_grad():
        ref, ref_weights = m(
            seq(q, batch_first),
            seq(k, batch_first),
            seq(v, batch_first),
            need_weights=True,
            average_attn_weights=False,
            **theirs,
        )
    out, weights = ours(q, k, v, return_weights=True, **mine)
    close(out, unseq(ref, batch_first))
    close(weights, ref_weights)
    back_and_forth(ours)


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_self_attention_causal_with_padding(rng, batch_first):
    b, length = 3, 5
    m = tnn.MultiheadAttention(D, H, batch_first=batch_first).eval()
    randomize(torch, m)
    ours = from_torch(m)
    x = rng.standard_normal((b, length, D)).astype(np.float32)
    km = key_mask(b, length)
    t = seq(x, batch_first)
    with torch.no_grad():
        ref = m(
            t,
            t,
            t,
            key_padding_mask=padding(km),
            attn_mask=future(length, length),
            is_causal=True,
            need_weights=False,
        )[0]
    close(ours(x, key_mask=km, is_causal=True), unseq(ref, batch_first))


LAYER_CASES = [
    (nf, act, bf, True) for nf in (False, True) for act in ("relu", "gelu") for bf in (True, False)
]
LAYER_CASES += [(True, "gelu", True, False), (False, "relu", False, False)]  # without biases
LAYER_IDS = [
    f"{'pre' if nf else 'post'}-{act}-{'bf' if bf else 'sf'}{'' if bias else '-nobias'}"
    for nf, act, bf, bias in LAYER_CASES
]


def layer_options(norm_first, activation, batch_first, bias):
    return {
        "dim_feedforward": FF,
        "dropout": 0.0,
        "activation": activation,
        "batch_first": batch_first,
        "norm_first": norm_first,
        "bias": bias,
    }


def encoder_inputs(rng, batch_first, mask_name="src_mask", b=2, length=5):
    """([attnlab's x], its kwargs, [torch's x], its kwargs): key padding and the causal mask
    (torch's under ``mask_name``: the layers' src_mask, the stacks' mask)."""
    x = rng.standard_normal((b, length, D)).astype(np.float32)
    km = key_mask(b, length)
    theirs = {
        mask_name: future(length, length),
        "src_key_padding_mask": padding(km),
        "is_causal": True,
    }
    return [x], {"key_mask": km, "is_causal": True}, [seq(x, batch_first)], theirs


def decoder_inputs(rng, batch_first, b=2, lt=4, ls=6):
    tgt = rng.standard_normal((b, lt, D)).astype(np.float32)
    memory = rng.standard_normal((b, ls, D)).astype(np.float32)
    tkm, mkm = key_mask(b, lt), key_mask(b, ls)
    mine = {"tgt_key_mask": tkm, "memory_key_mask": mkm, "tgt_is_causal": True}
    theirs = {
        "tgt_mask": future(lt, lt),
        "tgt_key_padding_mask": padding(tkm),
        "memory_key_padding_mask": padding(mkm),
        "tgt_is_causal": True,
    }
    return (tgt, memory), mine, (seq(tgt, batch_first), seq(memory, batch_first)), theirs


@pytest.mark.parametrize("norm_first,activation,batch_first,bias", LAYER_CASES, ids=LAYER_IDS)
@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_layer(rng, kind, norm_first, activation, batch_first, bias):
    layer, inputs = {
        "encoder": (tnn.TransformerEncoderLayer, encoder_inputs),
        "decoder": (tnn.TransformerDecoderLayer, decoder_inputs),
    }[kind]
    m = layer(D, H, **layer_options(norm_first, activation, batch_first, bias))
    randomize(torch, m.eval(), 0.4)
    ours = round_trip(m)
    xs, mine, ts, theirs = inputs(rng, batch_first)
    with torch.no_grad():
        ref = m(*ts, **theirs)
    close(ours(*xs, **mine), unseq(ref, batch_first))
    back_and_forth(ours)


@pytest.mark.parametrize("activation", [tnn.ReLU(), tnn.GELU()], ids=["ReLU()", "GELU()"])
def test_activation_modules_convert_as_their_functions(rng, activation):
    m = tnn.TransformerEncoderLayer(D, H, FF, 0.0, activation, batch_first=True).eval()
    ours = from_torch(m)
    expected = {"ReLU": al.nn.ReLU, "GELU": al.nn.GELU}[type(activation).__name__]
    assert type(ours.activation) is expected
    xs, mine, ts, theirs = encoder_inputs(rng, True)
    with torch.no_grad():
        close(ours(*xs, **mine), m(*ts, **theirs))


@pytest.mark.parametrize("norm_first,batch_first", [(False, True), (True, False)])
def test_encoder_stack_keeps_each_layers_settings(rng, norm_first, batch_first):
    options = layer_options(norm_first, "gelu", batch_first, True)
    layer = tnn.TransformerEncoderLayer(D, H, **options)
    m = quietly(
        tnn.TransformerEncoder, layer, 2, tnn.LayerNorm(D, eps=1e-4), enable_nested_tensor=False
    )
    m.layers[1].norm2.eps = 1e-3  # layers that differ stay different
    m.layers[1].activation = torch.nn.functional.relu
    randomize(torch, m.eval(), 0.4)
    ours = round_trip(m)
    assert ours.layers[1].norm2.eps == 1e-3 and ours.layers[0].norm2.eps == 1e-5
    assert type(ours.layers[1].activation) is al.nn.ReLU
    xs, mine, ts, theirs = encoder_inputs(rng, batch_first, "mask")
    with torch.no_grad():
        ref = m(*ts, **theirs)
    close(ours(*xs, **mine), unseq(ref, batch_first))
    back_and_forth(ours)


def test_encoder_without_final_norm(rng):
    m = tnn.TransformerEncoder(
        tnn.TransformerEncoderLayer(D, H, FF, 0.0, batch_first=True), 2, enable_nested_tensor=False
    ).eval()
    ours = round_trip(m)
    assert ours.norm is None
    xs, mine, ts, theirs = encoder_inputs(rng, True, "mask")
    with torch.no_grad():
        close(ours(*xs, **mine), m(*ts, **theirs))


def test_nested_tensor_encoder_agrees_on_real_tokens(rng):
    """torch's default TransformerEncoder zeroes padded positions on its inference fast path;
    attnlab (and the torch module to_torch builds) compute them."""
    m = tnn.TransformerEncoder(
        tnn.TransformerEncoderLayer(D, H, FF, 0.0, batch_first=True), 2
    ).eval()
    randomize(torch, m, 0.4)
    ours = from_torch(m)
    x = rng.standard_normal((2, 5, D)).astype(np.float32)
    km = key_mask(2, 5)
    with torch.no_grad():
        ref = quietly(m, torch.from_numpy(x), src_key_padding_mask=padding(km))
        back = to_torch(ours)(torch.from_numpy(x), src_key_padding_mask=padding(km))
    out = ours(x, key_mask=km).data
    assert np.all(ref.numpy()[~km] == 0)  # what torch's fast path gives at padding
    close(out[km], ref[torch.from_numpy(km)])
    close(out, back)


@pytest.mark.parametrize("norm_first,batch_first", [(True, True), (False, False)])
def test_decoder_stack(rng, norm_first, batch_first):
    options = layer_options(norm_first, "relu", batch_first, True)
    layer = tnn.TransformerDecoderLayer(D, H, **options)
    m = tnn.TransformerDecoder(layer, 2, tnn.LayerNorm(D))
    m.layers[0].dropout2.p = 0.25  # in eval mode a setting only; carried both ways
    randomize(torch, m.eval(), 0.4)
    ours = round_trip(m)
    assert ours.layers[0].dropout2.p == 0.25 and not ours.training
    xs, mine, ts, theirs = decoder_inputs(rng, batch_first)
    with torch.no_grad():
        ref = m(*ts, **theirs)
    close(ours(*xs, **mine), unseq(ref, batch_first))
    back_and_forth(ours)


@pytest.mark.parametrize("norm_first,activation,batch_first,bias", LAYER_CASES, ids=LAYER_IDS)
def test_transformer(rng, norm_first, activation, batch_first, bias):
    m = quietly(
        tnn.Transformer, D, H, 2, 1, **layer_options(norm_first, activation, batch_first, bias)
    )
    randomize(torch, m.eval(), 0.3)
    ours = round_trip(m)
    assert type(ours) is al.nn.Transformer and ours.torch_batch_first is batch_first
    b, ls, lt = 2, 6, 4
    src = rng.standard_normal((b, ls, D)).astype(np.float32)
    tgt = rng.standard_normal((b, lt, D)).astype(np.float32)
    skm, tkm = key_mask(b, ls), key_mask(b, lt)
    with torch.no_grad():
        ref = m(
            seq(src, batch_first),
            seq(tgt, batch_first),
            tgt_mask=future(lt, lt),
            src_key_padding_mask=padding(skm),
            tgt_key_padding_mask=padding(tkm),
            memory_key_padding_mask=padding(skm),
            tgt_is_causal=True,
        )
    out = ours(
        src, tgt, src_key_mask=skm, tgt_key_mask=tkm, memory_key_mask=skm, tgt_is_causal=True
    )
    close(out, unseq(ref, batch_first))
    back_and_forth(ours)


def test_attnlab_layers_go_to_torch_batch_first_unless_asked(rng):
    ours = al.nn.Transformer(D, H, 1, 1, FF, dropout=0.0, activation="gelu", norm_first=True)
    theirs = to_torch(ours)
    assert all(a.batch_first for a in theirs.modules() if isinstance(a, tnn.MultiheadAttention))
    assert theirs.batch_first and theirs.training
    seq_first = to_torch(ours.eval(), batch_first=False)
    assert not seq_first.batch_first and not seq_first.training
    src = rng.standard_normal((2, 5, D)).astype(np.float32)
    tgt = rng.standard_normal((2, 3, D)).astype(np.float32)
    with torch.no_grad():
        ref = seq_first(seq(src, False), seq(tgt, False), tgt_mask=future(3, 3))
    close(ours(src, tgt, tgt_is_causal=True), unseq(ref, False))
    assert from_torch(seq_first).torch_batch_first is False
