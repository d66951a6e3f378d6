"""attnlab/viz/matrices.py: heatmap, heads and layers draw the weights they are given, with
token labels that do not overlap for 2 to 512 tokens, and save to PNG, SVG and PDF."""

import sys

import numpy as np
import pytest

import attnlab as al
from attention_samples import softmax_rows

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}


def _labels(ticklabels):
    return [t.get_text() for t in ticklabels]


def _assert_no_overlap(figure, ticklabels):
    figure.canvas.draw()
    boxes = [t.get_window_extent() for t in ticklabels if t.get_text()]
    for a, b in zip(boxes, boxes[1:]):
        assert not a.overlaps(b), (a, b)


def test_heatmap_shows_one_head_with_token_labels(plt, model_weights):
    tokens = ["the", "cat", "sat", "on", "mats"]
    ax = al.viz.heatmap(model_weights, tokens, layer=1, head=2)
    np.testing.assert_array_equal(ax.images[0].get_array(), model_weights[1, 2])
    assert _labels(ax.get_xticklabels()) == tokens
    assert _labels(ax.get_yticklabels()) == tokens
    assert ax.get_title() == "layer 1, head 2"
    assert ax.get_xlabel() == "key" and ax.get_ylabel() == "query"


def test_heatmap_cross_attention_into_given_axes(plt, rng):
    weights = softmax_rows(rng.standard_normal((3, 4)))
    _, (left, right) = plt.subplots(1, 2)
    ax = al.viz.heatmap(
        weights, ["a", "b", "c"], ["w", "x", "y", "z"], ax=right, title="cross", colorbar=False
    )
    assert ax is right and not left.images
    assert _labels(ax.get_xticklabels()) == ["w", "x", "y", "z"]
    assert _labels(ax.get_yticklabels()) == ["a", "b", "c"]
    assert ax.get_title() == "cross"


@pytest.mark.parametrize("length", [2, 512])
def test_heatmap_labels_are_thinned_not_overlapping(plt, rng, length):
    weights = softmax_rows(rng.standard_normal((length, length)))
    ax = al.viz.heatmap(weights, [f"tok{i}" for i in range(length)])
    width, height = ax.figure.get_size_inches()
    assert 3.0 <= width <= 11.0 and 3.0 <= height <= 10.0
    labels = _labels(ax.get_yticklabels())
    assert labels[0] == "tok0" and (len(labels) == length) == (length == 2)
    _assert_no_overlap(ax.figure, ax.get_xticklabels())
    _assert_no_overlap(ax.figure, ax.get_yticklabels())


@pytest.mark.parametrize("fmt", sorted(MAGIC))
def test_figures_save_to_png_svg_pdf(plt, model_weights, tmp_path, fmt):
    path = tmp_path / f"heads.{fmt}"
    al.viz.heads(model_weights[0]).savefig(path)
    assert path.read_bytes().startswith(MAGIC[fmt])


def test_heads_grid_shares_one_scale(plt, rng):
    weights = softmax_rows(rng.standard_normal((6, 4, 4)))
    figure = al.viz.heads(weights, ["a", "b", "c", "d"])
    drawn = [ax for ax in figure.axes if ax.images]
    assert [ax.get_title() for ax in drawn] == [f"head {h}" for h in range(6)]
    for h, ax in enumerate(drawn):
        np.testing.assert_array_equal(ax.images[0].get_array(), weights[h])
        assert ax.images[0].get_clim() == (0.0, float(weights.max()))
    # 4 columns: labels only along the left column and the bottom row of each column
    assert [bool(_labels(ax.get_yticklabels())) for ax in drawn] == [
        True,
        False,
        False,
        False,
        True,
        False,
    ]
    assert [bool(_labels(ax.get_xticklabels())) for ax in drawn] == [
        False,
        False,
        True,
        True,
        True,
        True,
    ]


def test_heads_picks_a_layer_of_a_model(plt, model_weights):
    figure = al.viz.heads(model_weights, layer=1, cols=3)
    drawn = [ax for ax in figure.axes if ax.images]
    np.testing.assert_array_equal(drawn[2].images[0].get_array(), model_weights[1, 2])
    assert figure.get_suptitle() == "layer 1"


def test_layers_grid_is_layers_by_heads_with_a_colour_bar(plt, model_weights):
    record = {f"enc.{i}": w[None] for i, w in enumerate(model_weights)}
    figure = al.viz.layers(record)
    drawn = [ax for ax in figure.axes if ax.images]
    assert len(drawn) == 6
    np.testing.assert_array_equal(drawn[4].images[0].get_array(), model_weights[1, 1])
    assert [drawn[i].get_ylabel() for i in (0, 3)] == ["enc.0", "enc.1"]
    assert {ax.images[0].get_clim() for ax in drawn} == {(0.0, 1.0)}  # absolute: one scale
    bars = [ax for ax in figure.axes if ax.get_ylabel() == "attention weight"]
    assert len(bars) == 1 and not bars[0].images


def test_layers_long_module_names_stay_beside_their_row(plt, rng):
    record = {
        f"model.encoder.layers.{i}.self_attention.attn": softmax_rows(
            rng.standard_normal((12, 16, 16))
        )
        for i in range(12)
    }
    figure = al.viz.layers(record)
    figure.canvas.draw()
    drawn = [ax for ax in figure.axes if ax.images]
    names = [ax.yaxis.label for ax in drawn[::12]]
    assert names[3].get_text() == "model.encoder.\nlayers.3.\nself_attention.\nattn"
    boxes = [name.get_window_extent() for name in names]
    panels = [ax.get_window_extent() for ax in drawn]
    for row, box in enumerate(boxes):
        assert not any(box.overlaps(panel) for panel in panels)
        assert box.y0 >= panels[12 * row].y0 - 2 and box.y1 <= panels[12 * row].y1 + 2
        assert row == 0 or not box.overlaps(boxes[row - 1])


def test_layers_scale_head_shows_each_heads_pattern(plt, model_weights):
    figure = al.viz.layers(model_weights * 0.1, scale="head")
    drawn = [ax for ax in figure.axes if ax.images]
    np.testing.assert_allclose(
        drawn[2].images[0].get_array(), model_weights[0, 2] / model_weights[0, 2].max(), rtol=1e-6
    )
    assert [ax for ax in figure.axes if ax.get_ylabel() == "weight / the head's strongest"]
    with pytest.raises(ValueError, match=r"scale: expected one of \('absolute', 'row', 'head'\)"):
        al.viz.layers(model_weights, scale="panel")


def test_heads_labels_every_token_up_to_20(plt, rng):
    for length in (16, 20):
        weights = softmax_rows(rng.standard_normal((4, length, length)))
        tokens = [f"w{i}" for i in range(length)]
        figure = al.viz.heads(weights, tokens)
        first = [ax for ax in figure.axes if ax.images][0]
        assert _labels(first.get_yticklabels()) == tokens
        _assert_no_overlap(figure, first.get_yticklabels())
        bottom = [ax for ax in figure.axes if ax.images][-1]
        assert _labels(bottom.get_xticklabels()) == tokens
        _assert_no_overlap(figure, bottom.get_xticklabels())


def test_dollar_signs_in_tokens_are_drawn_as_they_are(plt, tmp_path):
    tokens = ["$x^2$", "$\\frac{$", "a$b", "\\alpha"]
    weights = np.full((4, 4), 0.25)
    ax = al.viz.heatmap(weights, tokens)
    figure = al.viz.heads(weights[None], tokens)
    for fmt in ("png", "svg", "pdf"):  # mathtext would fail on "$\\frac{$"
        ax.figure.savefig(tmp_path / f"heatmap.{fmt}")
        figure.savefig(tmp_path / f"heads.{fmt}")
    assert _labels(ax.get_xticklabels()) == tokens
    assert all(not t.get_parse_math() for t in ax.get_xticklabels() + ax.get_yticklabels())


def test_bad_arguments(plt, model_weights):
    with pytest.raises(ValueError, match=r"layer: 2 is out of range for layers = 2"):
        al.viz.heatmap(model_weights, layer=2)
    with pytest.raises(ValueError, match=r"head: -4 is out of range for H = 3"):
        al.viz.heatmap(model_weights, head=-4)
    with pytest.raises(ValueError, match=r"tokens: 4 tokens, but the weights have Lq"):
        al.viz.heatmap(model_weights, ["a"] * 4)
    with pytest.raises(ValueError, match=r"layer_weights: expected 2 to 5 dimensions"):
        al.viz.heads(np.zeros(3))
    with pytest.raises(ValueError, match=r"model_weights\[1\]: shape \(2, 5, 5\) does not match"):
        al.viz.layers([model_weights[0], model_weights[1, :2]])
    with pytest.raises(ValueError, match=r"cols: expected an int >= 1, got 0"):
        al.viz.heads(model_weights, cols=0)


def test_missing_matplotlib_names_the_extra(monkeypatch, model_weights):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(
        ImportError, match=r"attnlab.viz.heatmap needs matplotlib: pip install attnlab\[viz\]"
    ):
        al.viz.heatmap(model_weights)
