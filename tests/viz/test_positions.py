"""attnlab/viz/positions.py: the positional pictures show attnlab.functional's matrices."""

import math

import numpy as np
import pytest

import attnlab as al

F = al.functional


def _image(figure):
    return next(ax for ax in figure.axes if ax.images).images[0].get_array()


def test_rope_angles_are_positions_times_inverse_frequencies():
    angles = al.viz.positions.rope_angles(5, 6, base=100.0)
    expected = [[p * 100.0 ** (-2 * k / 6) for k in range(3)] for p in range(5)]
    np.testing.assert_allclose(angles, expected, rtol=1e-15)


def test_kinds_show_the_functional_matrices(plt):
    np.testing.assert_array_equal(
        _image(al.viz.positional("sinusoidal", length=10, dim=8)),
        F.sinusoidal_positional_encoding(10, 8, dtype=np.float64),
    )
    np.testing.assert_allclose(
        _image(al.viz.positional("rope", length=10, dim=8)),
        np.mod(al.viz.positions.rope_angles(10, 8), 2 * math.pi),
    )
    np.testing.assert_array_equal(
        _image(al.viz.positional("alibi", length=6, num_heads=4, head=3)),
        F.alibi_bias(4, 6, 6, dtype=np.float64)[3],
    )
    np.testing.assert_array_equal(
        _image(al.viz.positional("t5", length=40, num_buckets=8, max_distance=20)),
        F.relative_position_bucket(40, 40, num_buckets=8, max_distance=20),
    )


def test_a_matrix_is_drawn_as_given(plt, tmp_path):
    matrix = np.arange(12.0).reshape(3, 4)
    figure = al.viz.positional(matrix)
    np.testing.assert_array_equal(_image(figure), matrix)
    figure.savefig(tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG")


def test_long_tables_have_thinned_ticks(plt):
    figure = al.viz.positional("sinusoidal", length=512, dim=256)
    ax = figure.axes[0]
    assert 2 <= len(ax.get_yticks()) <= 60 and 2 <= len(ax.get_xticks()) <= 60


def test_bad_arguments(plt):
    with pytest.raises(
        ValueError, match=r"kind_or_matrix: expected one of \('sinusoidal', 'rope', 'alibi', 't5'\)"
    ):
        al.viz.positional("learned")
    with pytest.raises(
        ValueError, match=r"kind_or_matrix: expected a non-empty 2-d array, got shape \(3,\)"
    ):
        al.viz.positional(np.zeros(3))
    with pytest.raises(
        TypeError, match=r"kind_or_matrix: expected a kind name or a real 2-d array, got bool"
    ):
        al.viz.positional(np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match=r"head: 8 is out of range for num_heads = 8"):
        al.viz.positional("alibi", head=8)
    with pytest.raises(ValueError, match=r"length, dim: expected ints >= 1"):
        al.viz.positional("rope", length=0)
