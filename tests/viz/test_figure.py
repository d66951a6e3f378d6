"""attnlab/viz/_figure.py: what the static plots share (the row names of a grid here; the
plots themselves in test_matrices.py, test_head_view.py, ...)."""

from attnlab.viz._figure import wrapped_name


def test_wrapped_name_breaks_after_dots_and_drops_the_front():
    assert wrapped_name("enc.0", 18, 3) == "enc.0"
    assert wrapped_name("model.encoder.layers.3.attn", 18, 3) == "model.encoder.\nlayers.3.attn"
    assert wrapped_name("model.encoder.layers.3.attn", 18, 1) == "\u2026layers.3.attn"
    assert (
        wrapped_name("a_very_long_name_without_dots", 10, 5) == "a_very_lon\ng_name_wit\nhout_dots"
    )
