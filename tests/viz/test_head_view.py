"""attnlab/viz/head_view.py without a browser: what the view embeds (tokens, the top-k keys
and their absolute weights, the scale), its static picture, and bad input. Its drawing and
interaction are tested in Chromium (tests/viz/test_browser.py)."""

import io

import numpy as np
import pytest

import attnlab as al
from attention_samples import softmax_rows
from attnlab.viz._top_keys import LINES_PER_HEAD
from attnlab.viz.head_view import STATIC_FAINTEST, STATIC_LINES


def test_keeps_every_key_of_short_inputs_with_absolute_weights(model_weights, payload):
    data = payload(al.viz.head_view(model_weights, list("abcde")))
    assert (data["k"], data["lq"], data["lk"], data["heads"], data["layers"]) == (
        5,
        5,
        5,
        3,
        ["layer 0", "layer 1"],
    )
    keys = payload.array(data["keys"], "<u2").reshape(2, 3, 5, 5)
    levels = payload.array(data["weights"], "<u2").reshape(2, 3, 5, 5)
    np.testing.assert_array_equal(keys, np.broadcast_to(np.arange(5), keys.shape))
    assert data["top"] == 1.0 and data["scale"] == "absolute"
    np.testing.assert_array_equal(levels, np.rint(model_weights.astype(np.float64) * 65535))
    assert data["shown"] == [0, 1, 2] and data["layer"] == 0 and data["batchNote"] == ""


def test_a_uniform_row_is_sent_as_faint_as_it_is(payload):
    weights = np.array([np.full(8, 1 / 8), np.eye(8)[3]] * 4)  # rows: uniform, one-hot, ...
    levels = payload.array(payload(al.viz.head_view(weights))["weights"], "<u2").reshape(8, 8)
    assert levels[0].max() == round(65535 / 8) and levels[1].max() == 65535  # no per-row rescaling


def test_keeps_the_top_keys_of_long_inputs(rng, payload):
    weights = softmax_rows(3 * rng.standard_normal((2, 300, 300)))
    data = payload(al.viz.head_view(weights, layer=-1, heads=[1], top_k=7, scale="row"))
    assert data["k"] == 7 and data["shown"] == [1] and data["layer"] == 0 and data["scale"] == "row"
    keys = payload.array(data["keys"], "<u2").reshape(2, 300, 7)
    best = np.sort(np.argsort(weights, axis=-1)[..., -7:], axis=-1)
    np.testing.assert_array_equal(np.sort(keys, axis=-1), best)
    levels = payload.array(data["weights"], "<u2").reshape(2, 300, 7)
    np.testing.assert_allclose(
        levels / 65535, np.take_along_axis(weights, keys.astype(int), -1), atol=1 / 65535
    )
    assert payload(al.viz.head_view(weights))["k"] == LINES_PER_HEAD // 300


def test_weights_above_one_are_drawn_relative_to_the_largest(payload):
    data = payload(al.viz.head_view(np.array([[0.5, 2.0], [4.0, 0.0]])))
    assert data["top"] == 4.0
    np.testing.assert_array_equal(
        payload.array(data["weights"], "<u2"), np.rint(np.array([0.5, 2.0, 4.0, 0.0]) / 4 * 65535)
    )


def test_cross_attention_tokens(rng, payload):
    weights = softmax_rows(rng.standard_normal((2, 3, 4)))
    data = payload(al.viz.head_view(weights, ["a", "b", "c"], ["w", "x", "y", "z"]))
    assert data["tokens"] == ["a", "b", "c"] and data["keyTokens"] == ["w", "x", "y", "z"]


def test_static_picture_draws_each_shown_head_beside_the_others(plt, model_weights):
    tokens = ["$x^2$", "$\\frac{$", "c", "d", "e"]
    figure = al.viz.head_view(model_weights, tokens, layer=1, heads=[0, 2]).figure()
    axes = [ax for ax in figure.axes if ax.collections]
    assert [ax.get_title() for ax in axes] == ["head 0", "head 2"]
    colours = axes[1].collections[0].get_colors()
    alphas = np.sort(colours[:, 3])
    expected = np.sort(model_weights[1, 2].ravel())
    np.testing.assert_allclose(alphas, expected[expected >= STATIC_FAINTEST], atol=1e-6)  # = weight
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert texts == tokens  # drawn as they are, "$" included
    figure.savefig(io.BytesIO(), format="png")  # no mathtext parse error


def test_static_picture_of_a_long_input_keeps_the_strongest_lines(plt, rng):
    weights = softmax_rows(6 * rng.standard_normal((1, 600, 600))).astype(np.float32)
    figure = al.viz.head_view(weights).figure()
    assert len(figure.axes[0].collections[0].get_segments()) == STATIC_LINES
    assert f"the {STATIC_LINES} strongest lines of each head" in figure.get_suptitle()
    assert "each query's 54 strongest keys of 600" in figure.get_suptitle()


def test_bad_input(model_weights):
    with pytest.raises(ValueError, match=r"weights: attention weights must be >= 0"):
        al.viz.head_view(-model_weights)
    with pytest.raises(ValueError, match=r"tokens: 2 tokens, but the weights have Lq \(axis -2\) "):
        al.viz.head_view(model_weights, ["a", "b"])
    with pytest.raises(ValueError, match=r"top_k: expected an int >= 1, got 0"):
        al.viz.head_view(model_weights, top_k=0)
    with pytest.raises(ValueError, match=r"heads\[1\]: 3 is out of range for H = 3"):
        al.viz.head_view(model_weights, heads=[0, 3])
    with pytest.raises(ValueError, match=r"layer: 2 is out of range for layers = 2"):
        al.viz.head_view(model_weights, layer=2)
    with pytest.raises(
        ValueError,
        match=r"scale: expected one of \('absolute', 'row', 'head'\), "
        r"got 'log'",
    ):
        al.viz.head_view(model_weights, scale="log")
    with pytest.raises(
        TypeError,
        match=r"weights: expected dtype float16, float32 or float64, "
        r"got int64",
    ):
        al.viz.head_view(np.ones((2, 2), dtype=np.int64))


def test_encoder_decoder_cross_attention_from_a_record(payload):
    model = al.models.Seq2Seq(10, 10, max_len=12, n_layer=1, n_head=2, d_model=16)
    source, target = np.arange(7)[None].repeat(2, 0), np.arange(5)[None].repeat(2, 0)
    with al.record_attention(model) as rec, al.no_grad():
        model(source, target)
    with pytest.raises(
        ValueError,
        match=r"weights\['transformer.decoder.layers.0.self_attn'\]: "
        r"shape \(2, 2, 5, 5\) does not match .* only the cross "
        r"attention",
    ):
        al.viz.head_view(rec)
    name = "transformer.decoder.layers.0.multihead_attn"
    cross = {name: rec[name]}
    data = payload(al.viz.head_view(cross, list("abcde"), list("ABCDEFG"), batch_index=1))
    assert (data["lq"], data["lk"], data["layers"]) == (5, 7, [name])
    levels = payload.array(data["weights"], "<u2").reshape(2, 5, 7)
    np.testing.assert_allclose(levels / 65535, cross[name][1], atol=1 / 65535)
