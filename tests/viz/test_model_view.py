"""attnlab/viz/model_view.py without a browser: max-pooled cells of absolute weights, the
notes the view shows, its static picture, and bad input (Chromium: tests/viz/test_browser.py)."""

import numpy as np
import pytest

import attnlab as al
from attention_samples import softmax_rows


def test_max_pools_long_inputs_and_says_so(rng, payload):
    weights = softmax_rows(3 * rng.standard_normal((2, 2, 300, 130))).astype(np.float32)
    data = payload(al.viz.model_view(weights, resolution=64))
    assert (data["rq"], data["rk"], data["lq"], data["lk"]) == (64, 64, 300, 130)
    cells = payload.array(data["cells"], "<u2").reshape(2, 2, 64, 64)
    pooled = np.zeros((2, 2, 64, 64))
    for r in range(64):
        for c in range(64):
            rows = slice(r * 300 // 64, (r + 1) * 300 // 64)
            block = weights[..., rows, c * 130 // 64 : (c + 1) * 130 // 64]
            pooled[..., r, c] = block.max(axis=(-2, -1))
    assert data["top"] == 1.0
    np.testing.assert_allclose(cells, pooled * 65535, atol=1)  # float32 rounding: one level
    assert data["pooledNote"] == (
        "300 x 130 tokens max-pooled to 64 x 64 cells: each cell shows the largest weight it covers"
    )
    assert payload(al.viz.model_view(weights[..., :60, :60]))["pooledNote"] == ""


def test_pooled_inputs_carry_each_querys_kept_keys_for_zooming(rng, payload):
    weights = softmax_rows(3 * rng.standard_normal((1, 2, 300, 300))).astype(np.float32)
    data = payload(al.viz.model_view(weights, resolution=64, top_k=5))
    keys = payload.array(data["keys"], "<u2").reshape(1, 2, 300, 5)
    np.testing.assert_array_equal(
        keys, np.sort(np.argsort(-weights, axis=-1, kind="stable")[..., :5], axis=-1)
    )
    levels = payload.array(data["weights"], "<u2").reshape(1, 2, 300, 5)
    np.testing.assert_allclose(
        levels / 65535, np.take_along_axis(weights, keys.astype(int), -1), atol=1 / 65535
    )
    assert data["k"] == 5 and data["keyBytes"] == 2
    exact = payload(al.viz.model_view(weights[..., :50, :50], top_k=5))
    assert exact["k"] == 0 and "keys" not in exact  # the cells are every weight already


def test_record_input_names_layers_and_states_the_batch_item(model_weights, payload):
    record = {f"h.{i}.attn": np.stack([model_weights[i], model_weights[i] * 0]) for i in range(2)}
    data = payload(al.viz.model_view(record, batch_index=1, scale="head"))
    assert data["layers"] == ["h.0.attn", "h.1.attn"] and data["scale"] == "head"
    assert data["batchNote"] == "batch item 1 of 2"
    assert not payload.array(data["cells"], "<u2").any()  # item 1 is all zeros


def test_static_picture_is_the_grid_on_the_absolute_scale(plt, model_weights):
    figure = al.viz.model_view(model_weights).figure()
    drawn = [ax for ax in figure.axes if ax.images]
    assert len(drawn) == 6
    np.testing.assert_array_equal(drawn[4].images[0].get_array(), model_weights[1, 1])
    assert drawn[0].images[0].get_clim() == (0.0, 1.0)
    colour_bar = [ax for ax in figure.axes if ax.get_ylabel() == "attention weight"]
    assert len(colour_bar) == 1


def test_bad_input(model_weights):
    with pytest.raises(ValueError, match=r"weights: nothing to show"):
        al.viz.model_view(np.zeros((2, 0, 3, 3)))
    with pytest.raises(ValueError, match=r"resolution: expected an int in \[8, 1024\], got 4"):
        al.viz.model_view(model_weights, resolution=4)
    with pytest.raises(ValueError, match=r"scale: expected one of"):
        al.viz.model_view(model_weights, scale="Absolute")
    with pytest.raises(ValueError, match=r"top_k: expected an int >= 1, got 0"):
        al.viz.model_view(model_weights, top_k=0)
    with pytest.raises(
        ValueError,
        match=r"batch_index: weights of shape \(2, 3, 5, 5\) has no "
        r"batch axis",
    ):
        al.viz.model_view(model_weights, batch_index=1)
