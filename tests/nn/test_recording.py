"""nn/recording.py: record_attention takes every attention module's per-head weights from the
fused kernel, by module name and in module order; nothing is asked of the kernel when nothing
records; every=; nesting and exceptions restore the previous state."""

from collections.abc import Mapping

import numpy as np
import pytest

import attnlab as al

nn = al.nn


@pytest.fixture
def model():
    al.manual_seed(0)
    return nn.Transformer(8, 2, 2, 1, 16, dropout=0.0).eval()


@pytest.fixture
def inputs(rng):
    return (
        rng.standard_normal((2, 5, 8)).astype(np.float32),
        rng.standard_normal((2, 3, 8)).astype(np.float32),
    )


@pytest.fixture
def kernel_calls(monkeypatch):
    """Whether each attention kernel call, alone or in a fused layer (one entry per attention),
    was asked for weights."""
    import attnlab.functional.attention as attention_module
    from attnlab import _core

    calls = []
    run_kernel = attention_module._forward

    def spy(call, return_weights, return_stats):
        calls.append(return_weights)
        return run_kernel(call, return_weights, return_stats)

    def layer_spy(run_layer, attentions):
        def run(*args, **kwargs):
            calls.extend(kwargs.get(name) is not None for name in attentions)
            return run_layer(*args, **kwargs)

        return run

    monkeypatch.setattr(attention_module, "_forward", spy)
    for name, attentions in (
        ("encoder_layer_forward", ["weights"]),
        ("decoder_layer_forward", ["weights", "cross_weights"]),  # self, then cross attention
    ):
        monkeypatch.setattr(_core, name, layer_spy(getattr(_core, name), attentions))
    return calls


NAMES = [
    "encoder.layers.0.self_attn",
    "encoder.layers.1.self_attn",
    "decoder.layers.0.self_attn",
    "decoder.layers.0.multihead_attn",
]


def test_records_every_attention_module_by_name_in_module_order(model, inputs):
    src, tgt = inputs
    with al.record_attention(model) as rec:
        model(src, tgt)
    assert isinstance(rec, Mapping) and list(rec) == NAMES and len(rec) == 4
    assert rec["encoder.layers.0.self_attn"].shape == (2, 2, 5, 5)
    assert rec["decoder.layers.0.self_attn"].shape == (2, 2, 3, 3)
    assert rec["decoder.layers.0.multihead_attn"].shape == (2, 2, 3, 5)  # cross: (B, H, Lt, Ls)
    assert all(isinstance(w, np.ndarray) and w.dtype == np.float32 for w in rec.values())
    # The weights the module itself returns.
    _, w = model.encoder.layers[0].self_attn(src, return_weights=True)
    np.testing.assert_array_equal(rec["encoder.layers.0.self_attn"], w.data)
    with pytest.raises(KeyError, match="'encoder.layers.9.self_attn': no attention recorded"):
        rec["encoder.layers.9.self_attn"]


def test_recording_off_asks_the_kernel_for_no_weights(model, inputs, kernel_calls):
    model(*inputs)
    assert kernel_calls == [False] * 4
    with al.record_attention(model):
        model(*inputs)
    assert kernel_calls[4:] == [True] * 4
    model(*inputs)
    assert kernel_calls[8:] == [False] * 4


def test_every_records_the_first_and_then_every_nth_call(model, inputs, kernel_calls):
    enc = model.encoder
    x = inputs[0]
    with al.record_attention(enc, every=3) as rec:
        outs = []
        for i in range(7):
            _, w = enc.layers[0].self_attn(x * (i + 1), return_weights=True)
            outs.append(w.data.copy())
    history = rec.history("layers.0.self_attn")
    assert len(history) == 3  # calls 1, 4, 7
    for h, i in zip(history, (0, 3, 6)):
        np.testing.assert_array_equal(h, outs[i])  # earlier arrays not overwritten by later calls
    assert list(rec) == ["layers.0.self_attn"]


def test_history_keeps_each_call(model, inputs):
    with al.record_attention(model) as rec:
        model(*inputs)
        first = rec["encoder.layers.0.self_attn"].copy()
        model(inputs[0][:, ::-1].copy(), inputs[1])
    history = rec.history("encoder.layers.0.self_attn")
    assert len(history) == 2
    np.testing.assert_array_equal(history[0], first)
    assert not np.array_equal(history[1], first)
    assert rec["encoder.layers.0.self_attn"] is history[1]


def test_nested_records_both_record_and_exit_restores(model, inputs):
    attn = model.encoder.layers[0].self_attn
    with al.record_attention(model) as outer:
        with al.record_attention(model.encoder) as inner:
            model(*inputs)
        model(*inputs)
    assert len(outer.history("encoder.layers.0.self_attn")) == 2
    assert len(inner.history("layers.0.self_attn")) == 1
    assert attn._attention_recorders == ()
    with pytest.raises(RuntimeError, match="boom"):
        with al.record_attention(model):
            with al.record_attention(model):
                raise RuntimeError("boom")
    assert all(
        m._attention_recorders == ()
        for m in model.modules()
        if isinstance(m, nn.MultiheadAttention)
    )


def test_record_in_training_with_gradients(inputs):
    model = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1)
    x = al.tensor(inputs[0], requires_grad=True)
    with al.record_attention(model) as rec:
        model(x).sum().backward()
    assert x.grad is not None and rec["self_attn"].shape == (2, 2, 5, 5)
    np.testing.assert_allclose(rec["self_attn"].sum(-1), 1.0, atol=1e-5)  # before dropout


def test_errors(model):
    with pytest.raises(TypeError, match="model: expected an attnlab.nn.Module"):
        al.record_attention("model")
    with pytest.raises(ValueError, match="every: expected an int >= 1"):
        al.record_attention(model, every=0)
    with pytest.raises(TypeError, match="every: expected an int"):
        al.record_attention(model, every=1.5)
    with pytest.raises(ValueError, match="Linear has no attention module"):
        al.record_attention(nn.Linear(2, 2))
    rec = al.record_attention(model)
    with rec:
        with pytest.raises(RuntimeError, match="already active"):
            rec.__enter__()


def test_keep_outputs_keeps_each_calls_output_a_v_and_its_gradient(rng):
    al.manual_seed(0)
    attn = nn.MultiheadAttention(8, 4, num_kv_heads=2, dtype=np.float64)
    x = rng.standard_normal((2, 5, 8))
    with nn.AttentionRecord(attn, 1, keep_outputs=True) as rec:
        attn(x, is_causal=True).sum().backward()
    ((out, value),) = rec.outputs("")
    assert out.shape == (2, 4, 5, 2) and value.shape == (2, 2, 5, 2)
    # The kept output is the weights times the values (each value head shared by 2 queries).
    np.testing.assert_allclose(out.data, rec[""] @ np.repeat(value, 2, axis=1), rtol=1e-12)
    assert out.grad is not None and out.grad.shape == out.shape
    with al.record_attention(attn) as plain:
        attn(x)
    with pytest.raises(
        RuntimeError, match="outputs: this record was made without keep_outputs=True"
    ):
        plain.outputs("")
    with pytest.raises(TypeError, match="keep_outputs: expected a bool, got int"):
        nn.AttentionRecord(attn, 1, keep_outputs=1)


def _softmax_scores(q, k):
    """softmax(q k^T / sqrt(D)) with each query head reading its key head (grouped heads)."""
    k = np.repeat(k, q.shape[1] // k.shape[1], axis=1)
    scores = q.astype(np.float64) @ k.astype(np.float64).swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize(
    "options",
    [{}, {"positions": "rotary"}, {"num_kv_heads": 1}, {"positions": "rotary", "num_kv_heads": 2}],
)
def test_qk_keeps_what_the_kernel_scored(options, rng, kernel_calls):
    al.manual_seed(0)
    attn = nn.MultiheadAttention(16, 4, **options)
    x = rng.standard_normal((2, 6, 16)).astype(np.float32)
    with al.record_attention(attn, qk=True) as rec:
        attn(x)
    assert kernel_calls == [True]  # the one fused call, asked for the weights
    q, k = rec.qk("")
    assert q.shape == (2, 4, 6, 4) and k.shape == (2, options.get("num_kv_heads", 4), 6, 4)
    assert q.flags.c_contiguous and q.base is None  # copies, not views of the projection
    np.testing.assert_allclose(rec[""], _softmax_scores(q, k), atol=2e-6)
    with al.record_attention(attn) as plain:
        attn(x)
    with pytest.raises(RuntimeError, match=r"qk: this record was made without qk=True"):
        plain.qk("")


def test_qk_of_cross_attention_and_its_calls(model, inputs):
    with al.record_attention(model, qk=True) as rec:
        model(*inputs)
    q, k = rec.qk("decoder.layers.0.multihead_attn")
    assert q.shape == (2, 2, 3, 4) and k.shape == (2, 2, 5, 4)  # (B, H, Lt, D), (B, H, Ls, D)
    np.testing.assert_allclose(
        rec["decoder.layers.0.multihead_attn"], _softmax_scores(q, k), atol=2e-6
    )
    np.testing.assert_array_equal(rec.qk("decoder.layers.0.multihead_attn", call=0)[0], q)
    with pytest.raises(IndexError, match=r"call: 1 is out of range for 1 recorded calls"):
        rec.qk("decoder.layers.0.multihead_attn", call=1)
    with pytest.raises(KeyError, match=r"'nope': no attention recorded"):
        rec.qk("nope")
    with pytest.raises(TypeError, match=r"qk: expected a bool"):
        al.record_attention(model, qk=1)
