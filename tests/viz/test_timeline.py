"""attnlab/viz/timeline.py without a browser: snapshots from a list or a History (module
names, the snapshot row), one absolute scale over the steps, and bad input."""

import numpy as np
import pytest

import attnlab as al
from attnlab.data import tasks


def test_one_absolute_scale_over_steps(model_weights, payload):
    snapshots = [(0, model_weights * 0.5), (100, model_weights), (250.5, list(model_weights))]
    data = payload(al.viz.timeline(snapshots, list("abcde"), layer=1))
    assert data["steps"] == [0, 100, 250.5] and data["layer"] == 1 and data["top"] == 1.0
    cells = payload.array(data["cells"], "<u2").reshape(3, 2, 3, 5, 5)
    np.testing.assert_allclose(cells[1], model_weights * 65535.0, atol=1)  # float32 rounding
    np.testing.assert_allclose(cells[0], model_weights * 0.5 * 65535.0, atol=1)
    assert data["tokens"] == list("abcde") and data["layers"] == ["layer 0", "layer 1"]


def test_takes_a_history_with_module_names(payload):
    task = tasks.reverse(4, 5, n_train=200, n_test=20)
    al.manual_seed(0)
    model = al.models.GPT(len(task.vocab), task.block_size, n_layer=2, n_head=2, d_model=16)
    history = al.fit(model, task, steps=4, batch_size=8, snapshot_every=2, progress=False)
    data = payload(al.viz.timeline(history, batch_index=1))
    assert data["layers"] == ["blocks.0.attn", "blocks.1.attn"] and data["steps"] == [0, 2, 4]
    cells = payload.array(data["cells"], "<u2").reshape(3, 2, 2, task.block_size, task.block_size)
    expected = history.snapshots[2][1]["blocks.1.attn"][1].astype(np.float64)
    np.testing.assert_allclose(cells[2, 1] / 65535, expected, atol=1 / 65535)
    with pytest.raises(ValueError, match=r"batch_index: 4 is out of range for snapshot rows = 4"):
        al.viz.timeline(history, batch_index=4)


def test_static_picture_is_the_last_step(plt, model_weights):
    figure = al.viz.timeline([(0, model_weights * 0.5), (7, model_weights)], layer=1).figure()
    drawn = [ax for ax in figure.axes if ax.images]
    np.testing.assert_array_equal(drawn[2].images[0].get_array(), model_weights[1, 2])
    assert "layer 1 at step 7" in figure.get_suptitle()


def test_bad_input(model_weights):
    with pytest.raises(
        ValueError,
        match=r"snapshots\[1\] weights: shape \(layers, H, Lq, Lk\) = "
        r"\(1, 3, 5, 5\) does not match snapshots\[0\]'s "
        r"\(2, 3, 5, 5\)",
    ):
        al.viz.timeline([(0, model_weights), (1, model_weights[0])])
    with pytest.raises(ValueError, match=r"snapshots: the list is empty"):
        al.viz.timeline([])
    with pytest.raises(ValueError, match=r"snapshots\[0\]: expected a \(step, weights\) pair"):
        al.viz.timeline([model_weights])
    with pytest.raises(TypeError, match=r"snapshots\[0\] step: expected a real number, got str"):
        al.viz.timeline([("0", model_weights)])
    with pytest.raises(
        TypeError,
        match=r"snapshots: expected a History or a list of \(step, "
        r"weights\), got ndarray",
    ):
        al.viz.timeline(model_weights)
    with pytest.raises(ValueError, match=r"layer: 2 is out of range for layers = 2"):
        al.viz.timeline([(0, model_weights)], layer=2)
