"""attnlab/viz/_inputs.py: every accepted layout normalizes to (layers, H, Lq, Lk); bad input
gets an error naming the argument."""

from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest

from attnlab.viz._inputs import attention, nonempty, nonnegative, query_key_labels


class OnDevice:
    """Stands for a torch tensor on a GPU (there is none here): what attention() calls of it,
    detach() and cpu(), as torch's."""

    __module__ = "torch"

    def __init__(self, tensor):
        self.tensor, self.device = tensor, SimpleNamespace(type="cuda")

    def detach(self):
        return self

    def cpu(self):
        return self.tensor.detach()


class ArrayLike:
    """Stands for an attnlab Tensor: only ``__array__``."""

    def __init__(self, data):
        self.data = data

    def __array__(self, dtype=None, copy=None):
        return self.data


def test_every_layout_gives_the_same_model(model_weights):
    record = OrderedDict(
        (f"blocks.{i}.attn", np.stack([model_weights[i] * 0, model_weights[i]])) for i in range(2)
    )
    # (layers, B, H, Lq, Lk)
    batch = np.stack([model_weights * 0, model_weights, model_weights * 0], axis=1)
    layouts = {
        "array": (model_weights, None, None),
        "list of (H, Lq, Lk)": (list(model_weights), None, None),
        "tuple of (1, H, Lq, Lk)": (tuple(w[None] for w in model_weights), None, None),
        "tuple of (B, H, Lq, Lk)": (tuple(batch), 1, (1, 3)),
        "(layers, B, H, Lq, Lk)": (batch, -2, (1, 3)),
        "record": (record, 1, (1, 2)),
        "record of (H, Lq, Lk)": ({n: w[1] for n, w in record.items()}, None, None),
        "__array__": (ArrayLike(model_weights), None, None),
    }
    for label, (layout, batch_index, item) in layouts.items():
        att = attention(layout, batch_index=batch_index)
        np.testing.assert_array_equal(att.weights, model_weights, err_msg=label)
        assert att.leading == (2, 3) and att.batch in (item, (0, 1)), label
    assert attention(record, batch_index=1).layer_names == ["blocks.0.attn", "blocks.1.attn"]
    assert attention(list(model_weights)).layer_names == ["layer 0", "layer 1"]
    assert attention(batch).batch == (0, 3) and attention(batch).batch_note == "batch item 0 of 3"
    assert attention(record, batch_index=-1).batch_note == "batch item 1 of 2"


def test_half_precision_is_read_as_float32(model_weights):
    att = attention(model_weights.astype(np.float16))
    assert att.weights.dtype == np.float32
    np.testing.assert_allclose(att.weights, model_weights, atol=1e-3)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_torch_tensors_with_grad_and_half_precision(model_weights, dtype):
    import torch

    source = torch.tensor(model_weights, dtype=getattr(torch, dtype), requires_grad=True)
    att = attention(list(source.unsqueeze(1) * 1.0))  # a graph node, per layer (1, H, Lq, Lk)
    expected = source.detach().float().numpy()
    assert att.weights.dtype == (np.float64 if dtype == "float64" else np.float32)
    np.testing.assert_array_equal(att.weights, expected)
    np.testing.assert_array_equal(attention(source).weights, expected)
    np.testing.assert_array_equal(attention(OnDevice(source)).weights, expected)


@pytest.fixture(scope="module")
def tiny_models():
    """A 2-layer BERT and a BART (1 encoder, 2 decoder layers) of random weights, built from
    configs (no download); eager attention, which returns the weights."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    common = {"vocab_size": 50, "max_position_embeddings": 32, "attn_implementation": "eager"}
    bert = transformers.BertModel(
        transformers.BertConfig(
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            **common,
        )
    )
    bart = transformers.BartModel(
        transformers.BartConfig(
            d_model=16,
            encoder_layers=1,
            decoder_layers=2,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            **common,
        )
    )
    return torch, bert.eval(), bart.eval()


def test_hugging_face_attentions_of_a_batch(tiny_models):
    torch, bert, _ = tiny_models
    outputs = bert(torch.randint(0, 50, (3, 7)), output_attentions=True)
    assert outputs.attentions[0].requires_grad
    att = attention(outputs.attentions, batch_index=2)
    expected = np.stack([a[2].detach().numpy() for a in outputs.attentions])
    np.testing.assert_array_equal(att.weights, expected)
    assert att.batch == (2, 3) and att.layer_names == ["layer 0", "layer 1"]
    np.testing.assert_array_equal(
        attention(torch.stack(outputs.attentions), batch_index=2).weights, expected
    )
    with pytest.raises(ValueError, match=r"batch_index: 3 is out of range for B = 3"):
        attention(outputs.attentions, batch_index=3)
    with pytest.raises(
        TypeError,
        match=r"weights: a model output; pass one of its attention "
        r"fields: outputs.attentions",
    ):
        attention(outputs)


def test_hugging_face_encoder_decoder_cross_attention(tiny_models):
    torch, _, bart = tiny_models
    outputs = bart(
        input_ids=torch.randint(3, 50, (2, 6)),
        decoder_input_ids=torch.randint(3, 50, (2, 4)),
        output_attentions=True,
    )
    att = attention(outputs.cross_attentions, batch_index=1)
    assert att.shape == (2, 2, 4, 6)  # decoder layers, heads, target queries, source keys
    np.testing.assert_array_equal(att.weights[1], outputs.cross_attentions[1][1].detach().numpy())
    with pytest.raises(
        TypeError,
        match=r"fields: outputs.encoder_attentions, "
        r"outputs.decoder_attentions, outputs.cross_attentions$",
    ):
        attention(outputs)


def test_one_head_and_one_layer(model_weights):
    head = attention(model_weights[1, 2])
    assert head.shape == (1, 1, 5, 5) and head.leading == ()
    np.testing.assert_array_equal(head.weights[0, 0], model_weights[1, 2])
    layer = attention(model_weights[0])
    assert layer.shape == (1, 3, 5, 5) and layer.leading == (3,)


def test_array_input_is_not_copied(model_weights):
    assert np.shares_memory(attention(model_weights).weights, model_weights)


@pytest.mark.parametrize(
    "bad,error,match",
    [
        (np.zeros(5, np.float32), ValueError, r"weights: expected 2 to 5 dimensions .* got 1"),
        (
            np.zeros((1, 1, 2, 3, 4, 4), np.float32),
            ValueError,
            r"weights: expected 2 to 5 dimensions",
        ),
        (
            np.zeros((3, 3), np.int64),
            TypeError,
            r"weights: expected dtype float16, float32 or float64, got int64",
        ),
        (
            np.zeros((3, 3), np.complex64),
            TypeError,
            r"weights: expected dtype float16, float32 or float64",
        ),
        ("weights", TypeError, r"weights: expected an array of attention weights, got str"),
        ([[0.5, 0.5], [0.5, 0.5]], TypeError, r"weights\[0\]: expected an array .* got list"),
        (
            [np.zeros((2, 3, 3)), np.zeros((3, 3, 3))],
            ValueError,
            r"weights\[1\]: shape \(3, 3, 3\) does not match weights\[0\]'s \(2, 3, 3\)",
        ),
        (
            [np.zeros((1, 2, 2, 3, 3))],
            ValueError,
            r"weights\[0\]: expected \(H, Lq, Lk\) or \(B, H, Lq, Lk\)",
        ),
        ([], ValueError, r"weights: the list holds no layer"),
        ({}, ValueError, r"weights: the record holds no attention module"),
        (
            {"a": np.zeros((3, 3))},
            ValueError,
            r"weights\['a'\]: expected \(H, Lq, Lk\) or \(B, H, Lq, Lk\)",
        ),
        (
            {"a": np.zeros((2, 3, 3)), "b": np.zeros((1, 2, 3, 3))},
            ValueError,
            r"weights\['b'\]: shape \(1, 2, 3, 3\) does not match weights\['a'\]'s \(2, 3, 3\)",
        ),
        (np.full((2, 2), np.nan), ValueError, r"weights: contains NaN or inf"),
        (np.ma.masked_array(np.zeros((2, 2))), TypeError, r"weights: expected a plain NumPy array"),
    ],
)
def test_bad_weights(bad, error, match):
    with pytest.raises(error, match=match):
        attention(bad)


def test_bad_batch_index():
    record = {"a": np.zeros((2, 1, 3, 3))}
    with pytest.raises(ValueError, match=r"batch_index: 2 is out of range for B = 2"):
        attention(record, batch_index=2)
    with pytest.raises(ValueError, match=r"batch_index: 2 is out of range for B = 2"):
        attention(np.zeros((1, 2, 1, 3, 3)), batch_index=2)
    with pytest.raises(TypeError, match=r"batch_index: expected an int, got float"):
        attention(record, batch_index=1.0)
    with pytest.raises(TypeError, match=r"batch_index: expected an int, got bool"):
        attention(record, batch_index=True)
    np.testing.assert_array_equal(attention(record, batch_index=-1).weights, record["a"][1:])


@pytest.mark.parametrize(
    "weights",
    [np.zeros((2, 1, 3, 3)), np.zeros((3, 3)), [np.zeros((1, 3, 3))], {"a": np.zeros((1, 3, 3))}],
)
def test_batch_index_is_never_silently_ignored(weights):
    with pytest.raises(
        ValueError,
        match=r"batch_index: weights.* has no batch axis \(a 4-d "
        r"array is read as \(layers, H, Lq, Lk\)\); pass a 5-d "
        r"\(layers, B, H, Lq, Lk\) array or a list of per-layer "
        r"\(B, H, Lq, Lk\) arrays",
    ):
        attention(weights, batch_index=0)


def test_nonnegative_and_nonempty():
    with pytest.raises(ValueError, match=r"weights: attention weights must be >= 0"):
        nonnegative(attention(-np.ones((2, 2))))
    with pytest.raises(
        ValueError, match=r"weights: nothing to show in \(layers, H, Lq, Lk\) = \(1, 1, 0, 2\)"
    ):
        nonempty(attention(np.zeros((0, 2))))


def test_token_labels():
    assert query_key_labels(None, None, 2, 3) == (["0", "1"], ["0", "1", "2"])
    assert query_key_labels(["a", np.int64(7)], None, 2, 2) == (["a", "7"], ["a", "7"])
    assert query_key_labels(["a"], ["x", "y"], 1, 2) == (["a"], ["x", "y"])
    with pytest.raises(
        ValueError, match=r"tokens: 3 tokens, but the weights have Lq \(axis -2\) = 2"
    ):
        query_key_labels(["a", "b", "c"], None, 2, 2)
    with pytest.raises(
        ValueError, match=r"key_tokens: 1 tokens, but the weights have Lk \(axis -1\) = 2"
    ):
        query_key_labels(["a"], ["x"], 1, 2)
    with pytest.raises(
        ValueError, match=r"key_tokens: needed for cross attention \(Lq = 1 queries, Lk = 2 keys\)"
    ):
        query_key_labels(["a"], None, 1, 2)
    with pytest.raises(TypeError, match=r"tokens: expected a sequence of token strings, got str"):
        query_key_labels("ab", None, 2, 2)
    with pytest.raises(TypeError, match=r"tokens\[1\]: expected a str or int token, got float"):
        query_key_labels(["a", 1.5], None, 2, 2)
