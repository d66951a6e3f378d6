"""attnlab/viz/_inputs.py: every accepted layout normalizes to (layers, H, Lq, Lk); bad input
gets an error naming the argument."""

from collections import OrderedDict

import numpy as np
import pytest

from attnlab.viz._inputs import attention, nonempty, nonnegative, query_key_labels


class ArrayLike:
    """Stands for an attnlab Tensor: only ``__array__``."""

    def __init__(self, data):
        self.data = data

    def __array__(self, dtype=None, copy=None):
        return self.data


def test_every_layout_gives_the_same_model(model_weights):
    record = OrderedDict((f"blocks.{i}.attn", np.stack([model_weights[i] * 0, model_weights[i]]))
                         for i in range(2))
    layouts = {
        "array": (model_weights, (2, 3)),
        "list of (H, Lq, Lk)": (list(model_weights), (2, 3)),
        "tuple of (1, H, Lq, Lk)": (tuple(w[None] for w in model_weights), (2, 3)),
        "record": (record, (2, 3)),
        "__array__": (ArrayLike(model_weights), (2, 3)),
    }
    for label, (layout, leading) in layouts.items():
        att = attention(layout, batch_index=1) if label == "record" else attention(layout)
        np.testing.assert_array_equal(att.weights, model_weights, err_msg=label)
        assert att.leading == leading, label
    assert attention(record, batch_index=1).layer_names == ["blocks.0.attn", "blocks.1.attn"]
    assert attention(list(model_weights)).layer_names == ["layer 0", "layer 1"]


def test_one_head_and_one_layer(model_weights):
    head = attention(model_weights[1, 2])
    assert head.shape == (1, 1, 5, 5) and head.leading == ()
    np.testing.assert_array_equal(head.weights[0, 0], model_weights[1, 2])
    layer = attention(model_weights[0])
    assert layer.shape == (1, 3, 5, 5) and layer.leading == (3,)


def test_array_input_is_not_copied(model_weights):
    assert np.shares_memory(attention(model_weights).weights, model_weights)


@pytest.mark.parametrize("bad,error,match", [
    (np.zeros(5, np.float32), ValueError, r"weights: expected 2 to 4 dimensions .* got 1"),
    (np.zeros((1, 2, 3, 4, 4), np.float32), ValueError, r"weights: expected 2 to 4 dimensions"),
    (np.zeros((3, 3), np.int64), TypeError, r"weights: expected dtype float32 or float64, got int64"),
    (np.zeros((3, 3), np.float16), TypeError, r"weights: expected dtype float32 or float64"),
    ("weights", TypeError, r"weights: expected an array of attention weights, got str"),
    ([[0.5, 0.5], [0.5, 0.5]], TypeError, r"weights\[0\]: expected an array .* got list"),
    ([np.zeros((2, 3, 3)), np.zeros((3, 3, 3))], ValueError,
     r"weights\[1\]: shape \(3, 3, 3\) does not match weights\[0\]'s \(2, 3, 3\)"),
    ([np.zeros((2, 2, 3, 3))], ValueError, r"weights\[0\]: expected \(H, Lq, Lk\) or \(1, H, Lq, Lk\)"),
    ([], ValueError, r"weights: the list holds no layer"),
    ({}, ValueError, r"weights: the record holds no attention module"),
    ({"a": np.zeros((2, 3, 3))}, ValueError, r"weights\['a'\]: expected 4 dimensions \(B, H, Lq, Lk\)"),
    (np.full((2, 2), np.nan), ValueError, r"weights: contains NaN or inf"),
    (np.ma.masked_array(np.zeros((2, 2))), TypeError, r"weights: expected a plain NumPy array"),
])
def test_bad_weights(bad, error, match):
    with pytest.raises(error, match=match):
        attention(bad)


def test_bad_batch_index():
    record = {"a": np.zeros((2, 1, 3, 3))}
    with pytest.raises(ValueError, match=r"batch_index: 2 is out of range for B = 2"):
        attention(record, batch_index=2)
    with pytest.raises(TypeError, match=r"batch_index: expected an int, got float"):
        attention(record, batch_index=1.0)
    np.testing.assert_array_equal(attention(record, batch_index=-1).weights, record["a"][1:])


def test_nonnegative_and_nonempty():
    with pytest.raises(ValueError, match=r"weights: attention weights must be >= 0"):
        nonnegative(attention(-np.ones((2, 2))))
    with pytest.raises(ValueError, match=r"weights: nothing to show in \(layers, H, Lq, Lk\) = \(1, 1, 0, 2\)"):
        nonempty(attention(np.zeros((0, 2))))


def test_token_labels():
    assert query_key_labels(None, None, 2, 3) == (["0", "1"], ["0", "1", "2"])
    assert query_key_labels(["a", np.int64(7)], None, 2, 2) == (["a", "7"], ["a", "7"])
    assert query_key_labels(["a"], ["x", "y"], 1, 2) == (["a"], ["x", "y"])
    with pytest.raises(ValueError, match=r"tokens: 3 tokens, but the weights have Lq \(axis -2\) = 2"):
        query_key_labels(["a", "b", "c"], None, 2, 2)
    with pytest.raises(ValueError, match=r"key_tokens: 1 tokens, but the weights have Lk \(axis -1\) = 2"):
        query_key_labels(["a"], ["x"], 1, 2)
    with pytest.raises(ValueError, match=r"key_tokens: needed for cross attention \(Lq = 1 queries, Lk = 2 keys\)"):
        query_key_labels(["a"], None, 1, 2)
    with pytest.raises(TypeError, match=r"tokens: expected a sequence of token strings, got str"):
        query_key_labels("ab", None, 2, 2)
    with pytest.raises(TypeError, match=r"tokens\[1\]: expected a str or int token, got float"):
        query_key_labels(["a", 1.5], None, 2, 2)
