"""attnlab/viz/history.py: curves from each accepted history layout."""

import numpy as np
import pytest

import attnlab as al
from attnlab.viz.history import series


class History:
    """Stands for attnlab's History: only ``to_dict()``."""

    def to_dict(self):
        return {
            "step": [0, 10, 20],
            "loss": [2.0, 1.0, 0.5],
            "test_loss": [None, 1.2, None],
            "test_accuracy": [float("nan"), 0.4, 0.9],
        }


def test_series_layouts_agree():
    from_columns = series(History())
    from_pairs = series(
        {
            "loss": [(0, 2.0), (10, 1.0), (20, 0.5)],
            "test_loss": [(10, 1.2)],
            "test_accuracy": [(10, 0.4), (20, 0.9)],
        }
    )
    assert from_columns.keys() == from_pairs.keys()
    for name in from_columns:
        for a, b in zip(from_columns[name], from_pairs[name]):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(from_columns["test_loss"][0], [10.0])


def test_curves_split_losses_from_other_metrics(plt, tmp_path):
    figure = al.viz.curves(History())
    loss_ax, other_ax = figure.axes
    assert [line.get_label() for line in loss_ax.lines] == ["loss", "test_loss"]
    assert [line.get_label() for line in other_ax.lines] == ["test_accuracy"]
    np.testing.assert_array_equal(loss_ax.lines[0].get_xydata(), [[0, 2.0], [10, 1.0], [20, 0.5]])
    assert loss_ax.get_yscale() == "log" and other_ax.get_yscale() == "linear"
    figure.savefig(tmp_path / "c.svg")
    assert (tmp_path / "c.svg").read_bytes().startswith(b"<?xml")
    assert al.viz.curves({"loss": [(0, 1.0), (1, -0.5)]}).axes[0].get_yscale() == "linear"


def test_learning_rate_gets_its_own_panel(plt):
    figure = al.viz.curves(
        {
            "loss": [(0, 2.0), (10, 1.0)],
            "test_accuracy": [(10, 0.5)],
            "lr": [(0, 0.003), (10, 0.001)],
        }
    )
    loss_ax, other_ax, rate_ax = figure.axes
    assert [line.get_label() for line in other_ax.lines] == ["test_accuracy"]
    assert [line.get_label() for line in rate_ax.lines] == ["lr"]
    assert rate_ax.get_ylabel() == "learning rate" and rate_ax.get_ylim()[1] < 0.01


def test_bad_history():
    with pytest.raises(
        TypeError, match=r"history: expected a mapping or an object with to_dict\(\), got list"
    ):
        series([1, 2])
    with pytest.raises(
        ValueError, match=r"history\['loss'\]: 2 values, but history\['step'\] has 3"
    ):
        series({"step": [0, 1, 2], "loss": [1.0, 2.0]})
    with pytest.raises(
        ValueError, match=r"history\['loss'\]\[1\]: expected a \(step, value\) pair"
    ):
        series({"loss": [(0, 1.0), 2.0]})
    with pytest.raises(TypeError, match=r"history\['loss'\]\[0\]: expected a number, got str"):
        series({"step": [0], "loss": ["x"]})
    with pytest.raises(ValueError, match=r"history: no series has a measured value"):
        series({"step": [0], "loss": [None]})
