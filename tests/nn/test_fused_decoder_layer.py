"""nn/fused_decoder_layer.py (cpp/src/layers/decoder_layer.cpp): a decoder layer as one call
into the core each way equals the Python composition, its oracle, bitwise (the same kernels in
the same order, the same dropout seeds), forward and backward, for every option, float32 and
float64; gradcheck; takes over only where every part is the core's; records both attentions'
weights; counts one core call per layer each way where the composition makes thirteen kernel
calls each way; and its binding checks every shape."""

import numpy as np
import pytest

import attnlab as al
from attnlab import _core
from attnlab.autograd import gradcheck
from kernel_calls import counting_core_calls, kernel_calls_each_way, kernels
from layer_paths import composition_only
from torch_compare import assert_backward_matches, close, randomize, to_numpy

nn = al.nn

B, LT, LS, C = 3, 7, 5, 16


def layer(dtype=np.float64, seed=0, **kw):
    al.manual_seed(seed)
    options = dict(dim_feedforward=24, dropout=0.1)
    options.update(kw)
    m = nn.TransformerDecoderLayer(C, 4, dtype=dtype, **options).eval()
    rng = np.random.default_rng(seed)
    for p in m.parameters():  # away from the init's ones and zeros
        p.data[...] = rng.standard_normal(p.shape) * 0.4
    return m


def inputs(rng, dtype=np.float64, b=B, lt=LT, ls=LS):
    return tuple(rng.standard_normal((b, n, C)).astype(dtype) for n in (lt, ls))


def masks(kind, rng, b=B, lt=LT, ls=LS):
    tgt_key_mask = np.ones((b, lt), dtype=bool)
    tgt_key_mask[0, lt - 2 :] = False
    memory_key_mask = np.ones((b, ls), dtype=bool)
    memory_key_mask[1, ls - 2 :] = False
    tgt_mask = rng.random((lt, lt)) < 0.7
    tgt_mask[:, 0] = True
    memory_mask = rng.random((lt, ls)) < 0.7
    memory_mask[:, 0] = True
    return {
        "none": {},
        "key_masks": {"tgt_key_mask": tgt_key_mask, "memory_key_mask": memory_key_mask},
        "causal": {"tgt_is_causal": True},
        "all": {
            "tgt_mask": tgt_mask,
            "memory_mask": memory_mask,
            "tgt_key_mask": tgt_key_mask,
            "memory_key_mask": memory_key_mask,
            "tgt_is_causal": True,
            "memory_is_causal": True,
        },
    }[kind]


def both(m, x, memory, **kw):
    """(the composition's output, the fused output, the fused call's kernel calls), inference."""
    with al.no_grad():
        with composition_only():
            composed = m(x, memory, **kw).data
        with counting_core_calls() as calls:
            fused = m(x, memory, **kw).data
    return composed, fused, kernels(calls)


def trained(m, x, memory, g, **kw):
    """Output, then the gradients of x, of memory and of every parameter, of
    out.backward(g)."""
    m.zero_grad()
    xt, mt = al.tensor(x, requires_grad=True), al.tensor(memory, requires_grad=True)
    out = m(xt, mt, **kw)
    out.backward(g)
    return [out.data, xt.grad, mt.grad] + [p.grad for p in m.parameters()]


def assert_all_equal(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("positions", [None, "alibi", "rotary"])
@pytest.mark.parametrize("kind", ["none", "key_masks", "causal", "all"])
def test_equals_the_composition(rng, dtype, norm_first, activation, positions, kind):
    m = layer(dtype, norm_first=norm_first, activation=activation, positions=positions)
    x, memory = inputs(rng, dtype)
    composed, fused, calls = both(m, x, memory, **masks(kind, rng))
    assert calls == {"decoder_layer_forward": 1}
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
def test_other_layers_the_core_computes_on_every_arch(arch, rng, options):
    m = layer(**options)
    x, memory = inputs(rng)
    composed, fused, calls = both(m, x, memory, **masks("all", rng))
    assert calls == {"decoder_layer_forward": 1}
    np.testing.assert_array_equal(fused, composed)


def test_strided_inputs_are_read_not_written(rng):
    m = layer()
    x = rng.standard_normal((LT, B, C)).transpose(1, 0, 2)  # (B, LT, C), not contiguous
    memory = rng.standard_normal((B, LS, 2 * C))[..., ::2]
    x.flags.writeable = memory.flags.writeable = False
    composed, fused, calls = both(m, x, memory)
    assert calls == {"decoder_layer_forward": 1}
    np.testing.assert_array_equal(fused, composed)


@pytest.mark.parametrize("lengths", [(0, 5, 6), (2, 0, 6)])
def test_empty_batch_or_target(lengths):
    b, lt, ls = lengths
    m = layer()
    x, memory = np.zeros((b, lt, C)), np.ones((b, ls, C))
    composed, fused, _ = both(m, x, memory)
    assert fused.shape == composed.shape == (b, lt, C)
    xt, mt = al.tensor(x, requires_grad=True), al.tensor(memory, requires_grad=True)
    m(xt, mt).backward(np.ones((b, lt, C)))
    assert xt.grad.shape == x.shape
    np.testing.assert_array_equal(mt.grad, np.zeros_like(memory))
    assert all((p.grad == 0).all() for p in m.parameters())


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
def test_matches_torch_with_gradients(torch, rng, norm_first):
    kw = dict(dim_feedforward=24, dropout=0.1, activation="gelu", norm_first=norm_first)
    theirs = torch.nn.TransformerDecoderLayer(C, 4, batch_first=True, **kw).eval()
    ours = nn.TransformerDecoderLayer(C, 4, **kw).eval()
    randomize(torch, theirs, 0.4)
    ours.load_state_dict(to_numpy(theirs.state_dict()))
    x, memory = inputs(rng, np.float32)
    memory_key_mask = np.ones((B, LS), dtype=bool)
    memory_key_mask[1, 3:] = False
    memory_mask = rng.random((LT, LS)) < 0.8
    memory_mask[:, 0] = True
    ts = [torch.tensor(a, requires_grad=True) for a in (x, memory)]
    ref = theirs(
        *ts,
        tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(LT),
        tgt_is_causal=True,
        memory_mask=torch.from_numpy(~memory_mask),
        memory_key_padding_mask=torch.from_numpy(~memory_key_mask),
    )
    xs = [al.tensor(a, requires_grad=True) for a in (x, memory)]
    with counting_core_calls() as calls:
        out = ours(
            *xs, tgt_is_causal=True, memory_mask=memory_mask, memory_key_mask=memory_key_mask
        )
    assert kernels(calls) == {"decoder_layer_forward": 1}
    close(out, ref)
    assert_backward_matches(torch, rng, ours, theirs, out, ref, xs, ts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("positions", [None, "alibi", "rotary"])
@pytest.mark.parametrize("kind", ["none", "all"])
def test_gradients_equal_the_compositions(rng, dtype, norm_first, positions, kind):
    m = layer(dtype, norm_first=norm_first, activation="gelu", positions=positions)
    x, memory = inputs(rng, dtype)
    g = rng.standard_normal((B, LT, C)).astype(dtype)
    kw = masks(kind, rng)
    with composition_only():
        composed = trained(m, x, memory, g, **kw)
    assert_all_equal(trained(m, x, memory, g, **kw), composed)


@pytest.mark.parametrize("options", [{"bias": False}, {"activation": "relu", "dim_feedforward": 1}])
def test_gradients_of_other_layers_and_every_arch(arch, rng, options):
    m = layer(**options)
    x, memory = inputs(rng)
    g = rng.standard_normal((B, LT, C))
    with composition_only():
        composed = trained(m, x, memory, g, tgt_is_causal=True)
    assert_all_equal(trained(m, x, memory, g, tgt_is_causal=True), composed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_first", [False, True])
def test_grouped_query_heads(rng, dtype, norm_first):
    """Separate k and v weights: the cross attention's k and v are two products, as in the
    composition, and the memory's gradient their sum."""
    m = layer(dtype, num_kv_heads=2, norm_first=norm_first)
    x, memory = inputs(rng, dtype)
    g = rng.standard_normal((B, LT, C)).astype(dtype)
    kw = masks("all", rng)
    with composition_only():
        composed = trained(m, x, memory, g, **kw)
    assert_all_equal(trained(m, x, memory, g, **kw), composed)


def test_a_stack_shares_its_memory(rng):
    """The memory's gradient sums over the layers that read it."""
    m = nn.TransformerDecoder(layer(norm_first=True), 2, nn.LayerNorm(C, dtype=np.float64))
    x, memory = inputs(rng)
    g = rng.standard_normal((B, LT, C))
    with composition_only():
        composed = trained(m, x, memory, g, tgt_is_causal=True)
    assert_all_equal(trained(m, x, memory, g, tgt_is_causal=True), composed)


def test_frozen_parameters_and_inputs_get_no_gradient(rng):
    m = layer(norm_first=True)
    m.norm2.requires_grad_(False)
    m.multihead_attn.in_proj_weight.requires_grad_(False)
    x, memory = inputs(rng)
    g = rng.standard_normal((B, LT, C))
    with composition_only():
        composed = trained(m, x, memory, g)
    m.zero_grad()
    mt = al.tensor(memory, requires_grad=True)
    m(al.tensor(x), mt).backward(g)  # x needs no gradient
    np.testing.assert_array_equal(mt.grad, composed[2])
    assert m.norm2.weight.grad is None and m.multihead_attn.in_proj_weight.grad is None
    for p, want in zip(m.parameters(), composed[3:]):
        if p.requires_grad:
            np.testing.assert_array_equal(p.grad, want)


def test_a_retained_graph_runs_backward_again(rng):
    m = layer()
    x, memory = (al.tensor(a, requires_grad=True) for a in inputs(rng))
    g = rng.standard_normal((B, LT, C))
    out = m(x, memory)
    out.backward(g, retain_graph=True)
    first = x.grad.copy(), memory.grad.copy()
    out.backward(g)  # the saved activations are read, never written
    np.testing.assert_array_equal(x.grad, 2 * first[0])
    np.testing.assert_array_equal(memory.grad, 2 * first[1])


@pytest.mark.parametrize("norm_first", [False, True])
def test_gradcheck(rng, norm_first):
    m = layer(dim_feedforward=6, norm_first=norm_first, positions="rotary", dropout=0.0).train()
    x, memory = (al.tensor(a, requires_grad=True) for a in inputs(rng, b=2, lt=4, ls=3))
    chosen = [
        x,
        memory,
        m.self_attn.in_proj_weight,
        m.multihead_attn.in_proj_weight,
        m.multihead_attn.out_proj.bias,
        m.norm2.weight,
        m.linear1.bias,
        m.norm3.bias,
    ]
    assert gradcheck(lambda *_: m(x, memory, tgt_is_causal=True), chosen)


@pytest.mark.parametrize("norm_first", [False, True])
def test_dropout_masks_and_gradients_equal_the_compositions(rng, norm_first):
    """The same seeds, drawn in the same order (self-attention, dropout1, cross attention,
    dropout2, dropout, dropout3), give the same masks."""
    m = layer(norm_first=norm_first, dropout=0.3).train()
    x, memory = inputs(rng)
    g = rng.standard_normal((B, LT, C))
    al.manual_seed(5)
    with composition_only():
        composed = trained(m, x, memory, g, tgt_is_causal=True)
    al.manual_seed(5)
    assert_all_equal(trained(m, x, memory, g, tgt_is_causal=True), composed)
    fresh = trained(m, x, memory, g, tgt_is_causal=True)[0]
    assert (composed[0] != fresh).any()  # fresh seeds a call


def test_one_core_call_each_way(rng):
    x, memory = inputs(rng)
    m = layer()
    fused = ({"decoder_layer_forward": 1}, {"decoder_layer_backward": 1})
    assert kernel_calls_each_way(m, al.tensor(x, requires_grad=True), memory) == fused
    with composition_only():
        forward, backward = kernel_calls_each_way(m, al.tensor(x, requires_grad=True), memory)
    assert forward == {
        "linear_forward": 7,
        "attention_forward": 2,
        "layer_norm_forward": 3,
        "activation_forward": 1,
    }
    assert backward == {
        "linear_backward": 7,
        "attention_backward": 2,
        "layer_norm_backward": 3,
        "activation_backward": 1,
    }
    with al.no_grad():
        assert kernel_calls_each_way(m, x, memory) == ({"decoder_layer_forward": 1}, {})
    m.train()  # dropout 0.1 applies
    assert kernel_calls_each_way(m, x, al.tensor(memory, requires_grad=True)) == fused


class GatedLayer(nn.TransformerDecoderLayer):
    def _mha_block(self, x, memory, mask, is_causal):
        return super()._mha_block(x, memory, mask, is_causal) * 0.5


@pytest.mark.parametrize(
    "change",
    [
        "swiglu",
        "callable",
        "t5",
        "cross_positions",
        "cross_head_mask",
        "rms_norm",
        "patched_forward",
        "subclass",
        "empty_memory",
    ],
)
def test_parts_the_core_lacks_run_the_composition(rng, change):
    activation = {"swiglu": "swiglu", "callable": lambda t: t.relu()}.get(change, "relu")
    m = layer(activation=activation, positions="t5" if change == "t5" else None)
    if change == "cross_positions":
        m.multihead_attn.positions = nn.ALiBi(4, dtype=np.float64)
    if change == "cross_head_mask":
        m.multihead_attn.head_mask = [1, 0, 1, 1]
    if change == "rms_norm":
        m.norm3 = nn.RMSNorm(C, dtype=np.float64)
    if change == "patched_forward":  # as interpret's tests feed out_proj zeros
        linear = m.multihead_attn.out_proj.forward
        m.multihead_attn.out_proj.forward = lambda t: linear(t * 0.0)
    if change == "subclass":
        m.__class__ = GatedLayer
    x, memory = inputs(rng, ls=0 if change == "empty_memory" else LS)
    with al.no_grad(), counting_core_calls() as calls:
        m(x, memory)
    assert "decoder_layer_forward" not in calls and "linear_forward" in calls


def test_recorded_weights_of_both_attentions(rng):
    m = layer()
    x, memory = inputs(rng)
    with composition_only(), al.record_attention(m) as composed:
        m(x, memory)
    with al.no_grad(), al.record_attention(m, every=2) as fused:
        for _ in range(3):
            m(x, memory)
    for name, lk in (("self_attn", LT), ("multihead_attn", LS)):
        assert len(fused.history(name)) == 2  # calls 1 and 3
        assert fused[name].shape == (B, 4, LT, lk)
        np.testing.assert_array_equal(fused[name], composed[name])
    with al.no_grad(), al.nn.recording.AttentionRecord(m, 1, keep_outputs=True) as kept:
        with counting_core_calls() as calls:
            m(x, memory)
    assert "decoder_layer_forward" not in calls  # the output Tensors are kept
    assert len(kept.history("multihead_attn")) == 1


def test_binding_checks_every_shape():
    x, memory = np.zeros((2, 3, 8)), np.zeros((2, 5, 8))
    good = dict(
        in_proj_weight=np.zeros((24, 8)),
        out_proj_weight=np.zeros((8, 8)),
        cross_in_proj_weight=np.zeros((24, 8)),
        cross_out_proj_weight=np.zeros((8, 8)),
        linear1_weight=np.zeros((4, 8)),
        linear2_weight=np.zeros((8, 4)),
        options=_core.DecoderLayerOptions(),
        heads=2,
        kv_heads=2,
        out=np.zeros_like(x),
    )
    _core.decoder_layer_forward(x, memory, **good)
    bad = [
        ({"heads": 3}, "heads: 3 must be >= 1 and divide d_model 8"),
        ({"kv_heads": 0}, "kv_heads: 0 must be >= 1"),
        ({"cross_in_proj_weight": np.zeros((16, 8))}, r"cross_in_proj_weight: expected shape"),
        ({"linear2_weight": np.zeros((8, 3))}, r"linear2_weight: expected shape \(8, 4\)"),
        ({"norm3_bias": np.zeros(7)}, r"norm3_bias: expected shape \(8,\)"),
        ({"weights": np.zeros((2, 2, 3, 5))}, r"weights: expected shape \(2, 2, 3, 3\)"),
        (
            {"cross_weights": np.zeros((2, 2, 3, 3))},
            r"cross_weights: expected shape \(2, 2, 3, 5\)",
        ),
        ({"out": np.zeros((2, 3, 4))}, r"out: expected shape \(2, 3, 8\)"),
        ({"memory_mask": np.ones((3, 3), dtype=bool)}, "memory_mask: expected 4 dimensions"),
    ]
    for change, message in bad:
        with pytest.raises(ValueError, match=message):
            _core.decoder_layer_forward(x, memory, **{**good, **change})
    with pytest.raises(ValueError, match=r"memory: expected shape \(B, S, C\) = \(2, S, 8\)"):
        _core.decoder_layer_forward(x, memory[:1], **good)
    with pytest.raises(ValueError, match="out: must be neither x nor memory"):
        _core.decoder_layer_forward(x, memory, **{**good, "out": x})
    with pytest.raises(TypeError, match="linear1_weight, linear2_weight: required"):
        _core.decoder_layer_forward(x, memory, **{**good, "linear1_weight": None})
    saved = _core.decoder_layer_forward(x, memory, **good, training=True)
    backward = {k: v for k, v in good.items() if k != "out"}
    dx, dmemory = np.zeros_like(x), np.zeros_like(memory)
    _core.decoder_layer_backward(saved, x, memory, np.ones_like(x), **backward, dx=dx)
    with pytest.raises(ValueError, match="saved: the activations of another layer's forward"):
        _core.decoder_layer_backward(saved, x, memory[:, :4].copy(), np.ones_like(x), **backward)
    with pytest.raises(ValueError, match=r"dmemory: expected shape \(2, 5, 8\)"):
        _core.decoder_layer_backward(
            saved, x, memory, np.ones_like(x), **backward, dmemory=dmemory[:, :4].copy()
        )
    bad_dropout = _core.DecoderLayerOptions()
    bad_dropout.dropout3 = _core.DropoutOption()
    bad_dropout.dropout3.p = 1.0
    with pytest.raises(ValueError, match=r"options: dropout p must be in \[0, 1\)"):
        _core.decoder_layer_forward(x, memory, **{**good, "options": bad_dropout})
    with pytest.raises(ValueError, match="activation: expected one of 'relu', 'gelu'"):
        good["options"].activation = "silu"
    with pytest.raises(TypeError):  # float32 weights with a float64 input: no overload
        _core.decoder_layer_forward(
            x, memory, **{**good, "out_proj_weight": np.zeros((8, 8), np.float32)}
        )
