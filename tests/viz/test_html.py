"""attnlab/viz/html.py without a browser: what each view embeds (tokens, top-k keys,
quantized and pooled weights), escaping, unique ids, self-containment and bad input.
tests/viz/test_browser.py opens the same views in Chromium."""

import base64
import json
import os
import re
from importlib import resources

import numpy as np
import pytest

import attnlab as al
from attnlab.viz import html
from attention_samples import softmax_rows


def _data(view):
    return json.loads(view._data)


def _decode(text, dtype):
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def test_assets_are_package_files():
    names = {p.name for p in resources.files("attnlab.viz").joinpath("assets").iterdir()}
    assert {"common.js", "head_view.js", "model_view.js", "timeline.js", "views.css"} <= names


@pytest.mark.parametrize("make", [al.viz.head_view, al.viz.model_view,
                                  lambda w, t: al.viz.timeline([(0, w), (10, w)], t)])
def test_views_are_self_contained(model_weights, make):
    view = make(model_weights, list("abcde"))
    page = view.html
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for external in ("http:", "https:", "//cdn", "require(", "src=", "@import", "url(", "@font-face"):
        assert external not in page, external
    assert re.findall(r'href="([^"]*)"', page) == ["data:,"]
    assert view._repr_html_().count("<script>") == 1 and f"attnlabViews.{view.kind}(" in page


def test_every_render_gets_fresh_ids(model_weights):
    view = al.viz.head_view(model_weights)
    ids = [re.search(r'id="(attnlab-[0-9a-f]+)"', view._repr_html_()).group(1) for _ in range(3)]
    page = html.document([view, al.viz.model_view(model_weights), view])
    ids += re.findall(r'id="(attnlab-[0-9a-f]+)"', page)
    assert len(ids) == 6 and len(set(ids)) == 6


def test_tokens_cannot_escape_the_script(model_weights):
    hostile = ["<script>alert(1)</script>", "</script><b>x", "&amp;", "\"'", "\u2028"]
    page = al.viz.head_view(model_weights, hostile).html
    assert page.count("</script>") == 1 and "<b>" not in page and "&amp;" not in page
    assert _data(al.viz.head_view(model_weights, hostile))["tokens"] == hostile


def test_head_view_keeps_every_key_of_short_inputs(model_weights):
    data = _data(al.viz.head_view(model_weights, list("abcde")))
    assert (data["k"], data["lq"], data["lk"], data["heads"], data["layers"]) == (5, 5, 5, 3, ["layer 0", "layer 1"])
    keys = _decode(data["keys"], "<u2").reshape(2, 3, 5, 5)
    weights = _decode(data["weights"], np.uint8).reshape(2, 3, 5, 5)
    row_max = _decode(data["rowMax"], "<f4").reshape(2, 3, 5)
    np.testing.assert_array_equal(keys, np.broadcast_to(np.arange(5), keys.shape))
    np.testing.assert_array_equal(row_max, model_weights.max(axis=-1))
    expected = np.rint(model_weights / model_weights.max(axis=-1, keepdims=True) * 255)
    np.testing.assert_array_equal(weights, expected)
    assert data["shown"] == [0, 1, 2] and data["layer"] == 0


def test_head_view_keeps_the_top_keys_of_long_inputs(rng):
    weights = softmax_rows(3 * rng.standard_normal((2, 300, 300)))
    data = _data(al.viz.head_view(weights, layer=-1, heads=[1], top_k=7))
    assert data["k"] == 7 and data["shown"] == [1] and data["layer"] == 0
    keys = _decode(data["keys"], "<u2").reshape(2, 300, 7)
    best = np.sort(np.argsort(weights, axis=-1)[..., -7:], axis=-1)
    np.testing.assert_array_equal(np.sort(keys, axis=-1), best)
    assert _data(al.viz.head_view(weights))["k"] == html.LINES_PER_HEAD // 300


def test_cross_attention_tokens(rng):
    weights = softmax_rows(rng.standard_normal((2, 3, 4)))
    data = _data(al.viz.head_view(weights, ["a", "b", "c"], ["w", "x", "y", "z"]))
    assert data["tokens"] == ["a", "b", "c"] and data["keyTokens"] == ["w", "x", "y", "z"]
    assert _data(al.viz.model_view(weights))["keyTokens"] == ["0", "1", "2", "3"]


def test_model_view_max_pools_long_inputs(rng):
    weights = softmax_rows(3 * rng.standard_normal((2, 2, 300, 130))).astype(np.float32)
    data = _data(al.viz.model_view(weights, resolution=64))
    assert (data["rq"], data["rk"]) == (64, 64)
    cells = _decode(data["cells"], np.uint8).reshape(2, 2, 64, 64)
    pooled = np.zeros((2, 2, 64, 64))
    for r in range(64):
        for c in range(64):
            block = weights[..., r * 300 // 64:(r + 1) * 300 // 64, c * 130 // 64:(c + 1) * 130 // 64]
            pooled[..., r, c] = block.max(axis=(-2, -1))
    np.testing.assert_allclose(data["scale"], pooled.max(axis=(-2, -1)).ravel(), rtol=1e-5)
    np.testing.assert_array_equal(cells, np.rint(pooled / pooled.max(axis=(-2, -1), keepdims=True) * 255))


def test_timeline_keeps_one_scale_per_head_over_steps(model_weights):
    snapshots = [(0, model_weights * 0.5), (100, model_weights), (250.5, list(model_weights))]
    data = _data(al.viz.timeline(snapshots, layer=1))
    assert data["steps"] == [0, 100, 250.5] and data["layer"] == 1
    cells = _decode(data["cells"], np.uint8).reshape(3, 2, 3, 5, 5)
    scale = model_weights.max(axis=(-2, -1))[None, ..., None, None]
    np.testing.assert_array_equal(cells[1], np.rint(model_weights / scale[0] * 255))
    np.testing.assert_array_equal(cells[0], np.rint(model_weights * 0.5 / scale[0] * 255))


def test_record_input(model_weights):
    record = {f"h.{i}.attn": np.stack([model_weights[i], model_weights[i] * 0]) for i in range(2)}
    data = _data(al.viz.model_view(record, batch_index=0))
    assert data["layers"] == ["h.0.attn", "h.1.attn"]
    assert max(data["scale"]) > 0


def test_save_html_writes_the_document(model_weights, tmp_path):
    view = al.viz.model_view(model_weights)
    path = view.save_html(tmp_path / "view.html")
    assert path == tmp_path / "view.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "attnlabViews.model_view(" in text
    assert [p.name for p in tmp_path.iterdir()] == ["view.html"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() makes it, not mkstemp's 0600
    assert repr(view) == "<attnlab View model_view: model view (2 layers x 3 heads)>"


def test_bad_input(model_weights):
    with pytest.raises(ValueError, match=r"weights: attention weights must be >= 0"):
        al.viz.head_view(-model_weights)
    with pytest.raises(ValueError, match=r"tokens: 2 tokens, but the weights have Lq \(axis -2\) = 5"):
        al.viz.head_view(model_weights, ["a", "b"])
    with pytest.raises(ValueError, match=r"weights: nothing to show"):
        al.viz.model_view(np.zeros((2, 0, 3, 3)))
    with pytest.raises(ValueError, match=r"top_k: expected an int >= 1, got 0"):
        al.viz.head_view(model_weights, top_k=0)
    with pytest.raises(ValueError, match=r"heads\[1\]: 3 is out of range for H = 3"):
        al.viz.head_view(model_weights, heads=[0, 3])
    with pytest.raises(ValueError, match=r"resolution: expected an int in \[8, 1024\], got 4"):
        al.viz.model_view(model_weights, resolution=4)
    with pytest.raises(ValueError, match=r"snapshots\[1\] weights: shape \(layers, H, Lq, Lk\) = \(1, 3, 5, 5\) "
                                         r"does not match snapshots\[0\]'s \(2, 3, 5, 5\)"):
        al.viz.timeline([(0, model_weights), (1, model_weights[0])])
    with pytest.raises(ValueError, match=r"snapshots: the list is empty"):
        al.viz.timeline([])
    with pytest.raises(ValueError, match=r"snapshots\[0\]: expected a \(step, weights\) pair"):
        al.viz.timeline([model_weights])
    with pytest.raises(TypeError, match=r"snapshots\[0\] step: expected a real number, got str"):
        al.viz.timeline([("0", model_weights)])
    with pytest.raises(TypeError, match=r"weights: expected dtype float32 or float64, got int64"):
        al.viz.head_view(np.ones((2, 2), dtype=np.int64))
