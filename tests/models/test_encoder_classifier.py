"""EncoderClassifier (models/encoder_classifier.py): pooling, key masks, gradients."""

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import gradcheck
from attnlab.models import EncoderClassifier


def small(pooling, **kw):
    al.manual_seed(0)
    return EncoderClassifier(9, 3, max_len=8, n_layer=1, n_head=2, d_model=8, pooling=pooling, **kw)


@pytest.mark.parametrize("pooling", ["cls", "mean", "none"])
def test_shapes_and_gradcheck(rng, pooling):
    model = small(pooling).double()
    idx = rng.integers(0, 9, (2, 5))
    key_mask = np.array([[True] * 5, [True] * 3 + [False] * 2])
    out = model(idx, key_mask=key_mask)
    assert out.shape == ((2, 5, 3) if pooling == "none" else (2, 3))
    chosen = [model.embed.tok.weight, model.head.weight, model.encoder.layers[0].linear1.weight]
    assert gradcheck(lambda *ps: model(idx, key_mask=key_mask), chosen)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_padding_changes_nothing(rng, pooling):
    model = small(pooling, positions="sinusoidal").eval()
    idx = rng.integers(0, 9, (1, 6))
    key_mask = np.array([[True] * 4 + [False] * 2])
    a = model(idx, key_mask=key_mask).data
    other = idx.copy()
    other[0, 4:] = (other[0, 4:] + 1) % 9  # different padding tokens
    b = model(other, key_mask=key_mask).data
    np.testing.assert_allclose(a, b, atol=1e-6)
    c = model(idx[:, :4]).data
    np.testing.assert_allclose(a, c, atol=1e-5)


def test_bad_arguments():
    model = small("cls")
    with pytest.raises(TypeError, match="key_mask: expected a bool array"):
        model(np.zeros((1, 3), np.int64), key_mask=np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"key_mask: expected shape \(1, 3\)"):
        model(np.zeros((1, 3), np.int64), key_mask=np.ones((1, 4), bool))
    with pytest.raises(ValueError, match="pooling: expected one of"):
        EncoderClassifier(5, 2, max_len=4, pooling="max")
