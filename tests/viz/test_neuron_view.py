"""attnlab/viz/neuron_view.py: the queries and keys a record_attention(model, qk=True) record
kept, for a layer (by index or name), head and query; its static picture; bad input. Its page
is tested in Chromium (tests/viz/test_browser.py)."""

import numpy as np
import pytest

import attnlab as al


@pytest.fixture(scope="module")
def recorded():
    """A 2-layer GPT with rotary positions, recorded with its queries and keys on two rows."""
    task = al.data.tasks.reverse(4, 5, n_train=50, n_test=10)
    al.manual_seed(0)
    model = al.models.GPT(
        len(task.vocab), task.block_size, n_layer=2, n_head=4, d_model=16, positions="rotary"
    )
    rows = task.test.inputs[:2]
    with al.record_attention(model, qk=True) as rec, al.no_grad():
        model(rows)
    return rec, task.tokens(rows[1])


def test_embeds_the_heads_queries_keys_and_weights(recorded, payload):
    rec, tokens = recorded
    data = payload(al.viz.neuron_view(rec, tokens, layer="blocks.1.attn", head=2, batch_index=1))
    q, k = rec.qk("blocks.1.attn")
    length = len(tokens)
    assert (data["module"], data["head"], data["query"]) == ("blocks.1.attn", 2, length - 1)
    assert data["dim"] == 4
    np.testing.assert_array_equal(payload.array(data["q"], "<f4").reshape(length, 4), q[1, 2])
    np.testing.assert_array_equal(payload.array(data["k"], "<f4").reshape(length, 4), k[1, 2])
    assert data["m"] == length and data["batchNote"] == "batch item 1 of 2"
    keys = payload.array(data["keys"], "<u2").reshape(length, length)
    np.testing.assert_array_equal(keys, np.broadcast_to(np.arange(length), keys.shape))
    np.testing.assert_array_equal(
        payload.array(data["weights"], "<f4").reshape(length, length), rec["blocks.1.attn"][1, 2]
    )
    assert payload(al.viz.neuron_view(rec, layer=-1, head=2))["module"] == "blocks.1.attn"


def test_long_inputs_show_the_strongest_keys_in_position_order(recorded, payload):
    rec, tokens = recorded
    data = payload(al.viz.neuron_view(rec, tokens, layer=0, head=1, max_keys=3, query=5))
    keys = payload.array(data["keys"], "<u2").reshape(len(tokens), 3)
    weights = rec["blocks.0.attn"][0, 1]
    assert data["m"] == 3 and data["query"] == 5 and (np.diff(keys, axis=-1) > 0).all()
    np.testing.assert_array_equal(np.sort(weights[5][keys[5]]), np.sort(weights[5])[-3:])


def test_grouped_heads_read_their_key_head(rng, payload):
    attn = al.nn.MultiheadAttention(16, 4, num_kv_heads=2)
    with al.record_attention(attn, qk=True) as rec:
        attn(rng.standard_normal((1, 5, 16)).astype(np.float32))
    data = payload(al.viz.neuron_view(rec, head=3))
    keys = payload.array(data["k"], "<f4").reshape(5, 4)
    np.testing.assert_array_equal(keys, rec.qk("")[1][0, 1])


def test_static_picture(plt, recorded):
    rec, tokens = recorded
    figure = al.viz.neuron_view(rec, tokens, layer=1, head=0, query=3).figure()
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:3] == ["query vector q", "key vectors k", "q * k (sums to the score x sqrt(D))"]
    q, k = rec.qk("blocks.1.attn")
    scores = figure.axes[3].patches
    expected = (q[0, 0, 3] * k[0, 0]).sum(-1) / 2.0  # sqrt(D) = 2
    np.testing.assert_allclose([bar.get_width() for bar in scores], expected, rtol=1e-5)
    assert f"query 3 \u201c{tokens[3]}\u201d" in figure.get_suptitle()


def test_bad_input(recorded, model_weights):
    rec, tokens = recorded
    with pytest.raises(
        TypeError,
        match=r"record: expected what record_attention\(model, qk=True\) "
        r"yields, got dict",
    ):
        al.viz.neuron_view({"a": model_weights})
    plain = al.nn.MultiheadAttention(8, 2)
    with al.record_attention(plain) as without:
        plain(np.zeros((1, 2, 8), np.float32))
    with pytest.raises(ValueError, match=r"record: made without qk=True"):
        al.viz.neuron_view(without)
    with pytest.raises(
        ValueError,
        match=r"layer: 'blocks.7.attn' is not a recorded module; "
        r"recorded: \['blocks.0.attn', 'blocks.1.attn'\]",
    ):
        al.viz.neuron_view(rec, layer="blocks.7.attn")
    with pytest.raises(ValueError, match=r"layer: 2 is out of range for recorded modules = 2"):
        al.viz.neuron_view(rec, layer=2)
    with pytest.raises(ValueError, match=r"head: 4 is out of range for H = 4"):
        al.viz.neuron_view(rec, head=4)
    with pytest.raises(ValueError, match=r"query: 99 is out of range for Lq = "):
        al.viz.neuron_view(rec, query=99)
    with pytest.raises(ValueError, match=r"batch_index: 2 is out of range for B = 2"):
        al.viz.neuron_view(rec, batch_index=2)
    with pytest.raises(ValueError, match=r"max_keys: expected an int >= 1, got 0"):
        al.viz.neuron_view(rec, max_keys=0)
    with pytest.raises(ValueError, match=r"tokens: 2 tokens, but the weights have Lq"):
        al.viz.neuron_view(rec, ["a", "b"])
