"""nn/fused_layer.py (cpp/src/layers/encoder_layer.cpp): an encoder layer as one call into the
core each way equals the Python composition, its oracle, bitwise (the same kernels in the same
order, the same dropout seeds), forward and backward, for every option on every arch, float32
and float64; torch's layer in eval mode; gradcheck; takes over only where every part is the
core's; records the same weights; counts one core call per layer each way where the
composition makes eight kernel calls forward and eight backward; and its binding checks every
shape."""

import numpy as np
import pytest

import attnlab as al
from attnlab import _core
from attnlab.autograd import gradcheck
from kernel_calls import counting_core_calls, kernel_calls_each_way, kernels
from layer_paths import composition_only
from torch_compare import randomize, to_numpy

nn = al.nn


def layer(dtype=np.float64, seed=0, **kw):
    al.manual_seed(seed)
    options = dict(dim_feedforward=24, dropout=0.1)
    options.update(kw)
    m = nn.TransformerEncoderLayer(16, 4, dtype=dtype, **options).eval()
    rng = np.random.default_rng(seed)
    for p in m.parameters():  # away from the init's ones and zeros
        p.data[...] = rng.standard_normal(p.shape) * 0.4
    return m


def masks(kind, b, length, rng):
    key_mask = np.ones((b, length), dtype=bool)
    key_mask[0, length - 2 :] = False
    mask = rng.random((length, length)) < 0.7
    mask[:, 0] = True
    return {
        "none": {},
        "key_mask": {"key_mask": key_mask},
        "causal": {"is_causal": True},
        "all": {"mask": mask, "key_mask": key_mask, "is_causal": True},
    }[kind]


def both(m, x, **kw):
    """(the composition's output, the fused output, the fused call's kernel calls), inference."""
    with al.no_grad():
        with composition_only():
            composed = m(x, **kw).data
        with counting_core_calls() as calls:
            fused = m(x, **kw).data
    return composed, fused, kernels(calls)


def trained(m, x, g, **kw):
    """Output, then the gradients of x and of every parameter, of out.backward(g)."""
    m.zero_grad()
    xt = al.tensor(x, requires_grad=True)
    out = m(xt, **kw)
    out.backward(g)
    return [out.data, xt.grad] + [p.grad for p in m.parameters()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("positions", [None, "alibi", "rotary"])
@pytest.mark.parametrize("kind", ["none", "key_mask", "causal", "all"])
def test_equals_the_composition(arch, rng, dtype, norm_first, activation, positions, kind):
    m = layer(dtype, norm_first=norm_first, activation=activation, positions=positions)
    x = rng.standard_normal((3, 7, 16)).astype(dtype)
    composed, fused, calls = both(m, x, **masks(kind, 3, 7, rng))
    assert calls == {"encoder_layer_forward": 1}
    np.testing.assert_array_equal(fused, composed)


@pytest.mark.parametrize(
    "options",
    [
        {"bias": False},
        {"num_kv_heads": 2},
        {"layer_norm_eps": 1e-12},
        {"activation": nn.GELU(approximate="tanh")},
        {"dim_feedforward": 1},
    ],
)
def test_other_layers_the_core_computes(rng, options):
    m = layer(**options)
    x = rng.standard_normal((2, 5, 16))
    composed, fused, calls = both(m, x, key_mask=np.array([[1, 1, 1, 0, 0]] * 2, dtype=bool))
    assert calls == {"encoder_layer_forward": 1}
    np.testing.assert_array_equal(fused, composed)


def test_strided_inputs_are_read_not_written(rng):
    m = layer()
    x = rng.standard_normal((5, 2, 16)).transpose(1, 0, 2)  # (2, 5, 16), not contiguous
    x.flags.writeable = False
    composed, fused, _ = both(m, x)
    np.testing.assert_array_equal(fused, composed)


@pytest.mark.parametrize("shape", [(0, 5, 16), (2, 0, 16)])
def test_empty_batch_or_sequence(shape):
    composed, fused, _ = both(layer(), np.zeros(shape))
    assert fused.shape == composed.shape == shape


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
def test_matches_torch_in_eval_mode(torch, rng, norm_first):
    kw = dict(dim_feedforward=24, dropout=0.1, activation="gelu", norm_first=norm_first)
    theirs = torch.nn.TransformerEncoderLayer(16, 4, batch_first=True, **kw).eval()
    ours = nn.TransformerEncoderLayer(16, 4, **kw).eval()
    randomize(torch, theirs, 0.4)
    ours.load_state_dict(to_numpy(theirs.state_dict()))
    x = rng.standard_normal((3, 6, 16)).astype(np.float32)
    km = np.ones((3, 6), dtype=bool)
    km[1, 4:] = False
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(~km)).numpy()
    with al.no_grad():
        out = ours(x, key_mask=km).data
    ref[~km] = out[~km]  # torch's fast path leaves the output of padded tokens at zero
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("positions", [None, "alibi", "rotary"])
@pytest.mark.parametrize("kind", ["none", "all"])
def test_gradients_equal_the_compositions(rng, dtype, norm_first, positions, kind):
    m = layer(dtype, norm_first=norm_first, activation="gelu", positions=positions)
    x = rng.standard_normal((3, 7, 16)).astype(dtype)
    g = rng.standard_normal((3, 7, 16)).astype(dtype)
    kw = masks(kind, 3, 7, rng)
    with composition_only():
        composed = trained(m, x, g, **kw)
    for got, want in zip(trained(m, x, g, **kw), composed):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "options", [{"bias": False}, {"num_kv_heads": 2}, {"activation": "relu", "dim_feedforward": 1}]
)
def test_gradients_of_other_layers_and_every_arch(arch, rng, options):
    m = layer(**options)
    x, g = rng.standard_normal((2, 5, 16)), rng.standard_normal((2, 5, 16))
    with composition_only():
        composed = trained(m, x, g, is_causal=True)
    for got, want in zip(trained(m, x, g, is_causal=True), composed):
        np.testing.assert_array_equal(got, want)


def test_frozen_parameters_and_inputs_get_no_gradient(rng):
    m = layer(norm_first=True)
    m.norm1.requires_grad_(False)
    m.linear2.weight.requires_grad_(False)
    x, g = rng.standard_normal((2, 5, 16)), rng.standard_normal((2, 5, 16))
    with composition_only():
        composed = trained(m, x, g)
    m.zero_grad()
    out = m(al.tensor(x))  # x needs no gradient
    out.backward(g)
    assert m.norm1.weight.grad is None and m.linear2.weight.grad is None
    for p, want in zip(m.parameters(), composed[2:]):
        if p.requires_grad:
            np.testing.assert_array_equal(p.grad, want)


def test_a_retained_graph_runs_backward_again(rng):
    m = layer(norm_first=True)
    x = al.tensor(rng.standard_normal((2, 5, 16)), requires_grad=True)
    g = rng.standard_normal((2, 5, 16))
    out = m(x)
    out.backward(g, retain_graph=True)
    first = x.grad.copy()
    out.backward(g)  # the saved activations are read, never written
    np.testing.assert_array_equal(x.grad, 2 * first)


def test_gradcheck(rng):
    m = layer(dim_feedforward=6, norm_first=True, positions="rotary", dropout=0.0).train()
    x = al.tensor(rng.standard_normal((2, 4, 16)), requires_grad=True)
    chosen = [x, m.self_attn.in_proj_weight, m.norm1.weight, m.linear1.bias, m.norm2.bias]
    assert gradcheck(lambda *_: m(x, is_causal=True), chosen)


@pytest.mark.parametrize("norm_first", [False, True])
def test_dropout_masks_and_gradients_equal_the_compositions(rng, norm_first):
    """The same seeds, drawn in the same order (attention, dropout1, dropout, dropout2), give
    the same masks."""
    m = layer(norm_first=norm_first, dropout=0.3).train()
    x, g = rng.standard_normal((3, 7, 16)), rng.standard_normal((3, 7, 16))
    al.manual_seed(5)
    with composition_only():
        composed = trained(m, x, g, is_causal=True)
    al.manual_seed(5)
    fused = trained(m, x, g, is_causal=True)
    for got, want in zip(fused, composed):
        np.testing.assert_array_equal(got, want)
    assert (composed[0] != trained(m, x, g, is_causal=True)[0]).any()  # fresh seeds a call


def test_one_core_call_each_way(rng):
    x = rng.standard_normal((2, 5, 16))
    m = layer()
    assert kernel_calls_each_way(m, al.tensor(x, requires_grad=True)) == (
        {"encoder_layer_forward": 1},
        {"encoder_layer_backward": 1},
    )
    with composition_only():
        forward, backward = kernel_calls_each_way(m, al.tensor(x, requires_grad=True))
    assert forward == {
        "linear_forward": 4,
        "attention_forward": 1,
        "layer_norm_forward": 2,
        "activation_forward": 1,
    }
    assert backward == {
        "linear_backward": 4,
        "attention_backward": 1,
        "layer_norm_backward": 2,
        "activation_backward": 1,
    }
    with al.no_grad():
        assert kernel_calls_each_way(m, x) == ({"encoder_layer_forward": 1}, {})
    m.train()  # dropout 0.1 applies
    assert kernel_calls_each_way(m, al.tensor(x, requires_grad=True)) == (
        {"encoder_layer_forward": 1},
        {"encoder_layer_backward": 1},
    )


class GatedLayer(nn.TransformerEncoderLayer):
    def _ff_block(self, x):
        return super()._ff_block(x) * 0.5


@pytest.mark.parametrize(
    "change", ["swiglu", "callable", "t5", "head_mask", "rms_norm", "patched_forward", "subclass"]
)
def test_parts_the_core_lacks_run_the_composition(rng, change):
    m = layer(
        activation="swiglu"
        if change == "swiglu"
        else (lambda t: t.relu())
        if change == "callable"
        else "relu",
        positions="t5" if change == "t5" else None,
    )
    if change == "head_mask":
        m.self_attn.head_mask = [1, 0, 1, 1]
    if change == "rms_norm":
        m.norm2 = nn.RMSNorm(16, dtype=np.float64)
    if change == "patched_forward":  # as interpret's tests feed out_proj zeros
        linear = m.self_attn.out_proj.forward
        m.self_attn.out_proj.forward = lambda t: linear(t * 0.0)
    if change == "subclass":
        m.__class__ = GatedLayer
    x = rng.standard_normal((2, 5, 16))
    with al.no_grad():
        assert "encoder_layer_forward" not in _calls(m, x)


def _calls(m, x):
    with counting_core_calls() as calls:
        m(x)
    return calls


def test_recorded_weights_and_their_count(rng):
    m = layer()
    x = rng.standard_normal((2, 5, 16))
    with composition_only(), al.record_attention(m) as composed:
        m(x)
    with al.no_grad(), al.record_attention(m, every=2) as fused:
        for _ in range(3):
            m(x)
    assert len(fused.history("self_attn")) == 2  # calls 1 and 3
    np.testing.assert_array_equal(fused["self_attn"], composed["self_attn"])
    with al.no_grad(), al.nn.recording.AttentionRecord(m, 1, keep_outputs=True) as kept:
        assert "encoder_layer_forward" not in _calls(m, x)  # the output Tensor is kept
    assert len(kept.history("self_attn")) == 1


def test_errors_are_the_compositions(rng):
    m = layer()
    with al.no_grad():
        with pytest.raises(TypeError, match="src: dtype float32 does not match"):
            m(np.zeros((2, 5, 16), np.float32))
        with pytest.raises(ValueError, match=r"src: axis 2 \(C\) has size 8"):
            m(np.zeros((2, 5, 8)))
        with pytest.raises(ValueError, match=r"key_mask: expected shape \(B, Lk\) = \(2, 5\)"):
            m(np.zeros((2, 5, 16)), key_mask=np.ones((2, 4), dtype=bool))
        with pytest.raises(ValueError, match=r"mask: shape \(4, 4\) is not broadcastable"):
            m(np.zeros((2, 5, 16)), mask=np.ones((4, 4), dtype=bool))


def test_binding_checks_every_shape():
    x = np.zeros((2, 3, 8))
    good = dict(
        in_proj_weight=np.zeros((24, 8)),
        out_proj_weight=np.zeros((8, 8)),
        options=_core.EncoderLayerOptions(),
        heads=2,
        kv_heads=2,
        out=np.zeros_like(x),
    )
    _core.encoder_layer_forward(x, **good)
    bad = [
        ({"heads": 3}, "heads: 3 must be >= 1 and divide d_model 8"),
        ({"kv_heads": 0}, "kv_heads: 0 must be >= 1"),
        ({"in_proj_weight": np.zeros((16, 8))}, r"in_proj_weight: expected shape \(24, 8\)"),
        ({"linear1_weight": np.zeros((4, 8))}, "linear1_weight, linear2_weight: pass both"),
        ({"past_keys": np.zeros((2, 2, 1, 4))}, "past_keys, past_values: pass both"),
        (
            {"past_keys": np.zeros((2, 2, 1, 4)), "past_values": np.zeros((2, 2, 1, 4))},
            "keys, values: a layer with past keys writes every key",
        ),
        ({"weights": np.zeros((2, 2, 3, 4))}, r"weights: expected shape \(2, 2, 3, 3\)"),
        ({"out": np.zeros((2, 3, 4))}, r"out: expected shape \(2, 3, 8\)"),
        ({"mask": np.ones((3, 3), dtype=bool)}, "mask: expected 4 dimensions"),
    ]
    for change, message in bad:
        with pytest.raises(ValueError, match=message):
            _core.encoder_layer_forward(x, **{**good, **change})
    with pytest.raises(ValueError, match="training: a training forward takes no cache"):
        _core.encoder_layer_forward(
            x,
            **{**good, "keys": np.zeros((2, 2, 3, 4)), "values": np.zeros((2, 2, 3, 4))},
            training=True,
        )
    with pytest.raises(TypeError, match="in_proj_weight, out_proj_weight: required"):
        _core.encoder_layer_forward(x, **{**good, "in_proj_weight": None})
    saved = _core.encoder_layer_forward(x, **good, training=True)
    backward = {
        k: good[k] for k in ("in_proj_weight", "out_proj_weight", "options", "heads", "kv_heads")
    }
    dx = np.zeros_like(x)
    _core.encoder_layer_backward(saved, x, np.ones_like(x), **backward, dx=dx)
    with pytest.raises(ValueError, match="saved: the activations of another layer's forward"):
        _core.encoder_layer_backward(saved, x[:1], np.ones_like(x[:1]), **backward)
    with pytest.raises(ValueError, match=r"d_out_proj_weight: expected shape \(8, 8\)"):
        _core.encoder_layer_backward(
            saved, x, np.ones_like(x), **backward, d_out_proj_weight=np.zeros((8, 4))
        )
    bad_dropout = _core.EncoderLayerOptions()
    bad_dropout.dropout2 = _core.DropoutOption()
    bad_dropout.dropout2.p = 1.0
    with pytest.raises(ValueError, match=r"options: dropout p must be in \[0, 1\)"):
        _core.encoder_layer_forward(x, **{**good, "options": bad_dropout})
    with pytest.raises(ValueError, match="activation: expected one of 'relu', 'gelu'"):
        good["options"].activation = "silu"
    with pytest.raises(TypeError):  # float32 weights with a float64 input: no overload
        _core.encoder_layer_forward(x, **{**good, "out_proj_weight": np.zeros((8, 8), np.float32)})
