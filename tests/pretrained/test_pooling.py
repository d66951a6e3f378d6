"""Pooling: every sentence-transformers pooling mode, on padded rows, against its own Pooling
module where installed, and its config.json in both spellings."""

import numpy as np
import pytest

from attnlab.pretrained import Pooling
from attnlab.pretrained.pooling import MODES


@pytest.fixture
def padded(rng):
    hidden = rng.standard_normal((3, 5, 4)).astype(np.float32)
    key_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=bool)
    hidden[~key_mask] = 1e6  # what padding holds must not leak into any mode
    return hidden, key_mask


def test_modes_by_hand(padded):
    hidden, mask = padded
    pooled = Pooling(("cls", "max", "mean", "mean_sqrt_len_tokens", "lasttoken"))(hidden, mask)
    c = hidden.shape[2]
    assert pooled.shape == (3, 5 * c) and pooled.dtype == np.float32
    for row, n in enumerate(mask.sum(1)):
        real = hidden[row, :n]
        np.testing.assert_allclose(pooled[row, :c], real[0])
        np.testing.assert_allclose(pooled[row, c : 2 * c], real.max(0))
        np.testing.assert_allclose(pooled[row, 2 * c : 3 * c], real.mean(0), rtol=1e-6)
        np.testing.assert_allclose(pooled[row, 3 * c : 4 * c], real.sum(0) / np.sqrt(n), rtol=1e-6)
        np.testing.assert_allclose(pooled[row, 4 * c :], real[-1])


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_matches_sentence_transformers(padded, mode):
    torch = pytest.importorskip("torch")
    pytest.importorskip("sentence_transformers")
    try:  # sentence-transformers 6 moved its modules
        from sentence_transformers.sentence_transformer.modules import Pooling as Reference
    except ImportError:
        from sentence_transformers.models import Pooling as Reference
    hidden, mask = padded
    hidden = np.where(mask[..., None], hidden, 0).astype(np.float32)  # as a model leaves it
    ref = Reference(hidden.shape[2], pooling_mode=mode)(
        {
            "token_embeddings": torch.from_numpy(hidden),
            "attention_mask": torch.from_numpy(mask.astype(np.int64)),
        }
    )["sentence_embedding"]
    np.testing.assert_allclose(Pooling((mode,))(hidden, mask), ref.numpy(), rtol=1e-6, atol=1e-6)


def test_config_spellings():
    legacy = {
        "word_embedding_dimension": 4,
        "pooling_mode_cls_token": True,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
    }
    assert Pooling.from_config(legacy, "c.json").modes == ("cls", "mean")
    assert Pooling.from_config({"word_embedding_dimension": 4}, "c.json").modes == ("mean",)
    assert Pooling.from_config({"pooling_mode": "max"}, "c.json").modes == ("max",)
    assert Pooling.from_config({"pooling_mode": ["mean", "cls"]}, "c.json").modes == ("mean", "cls")
    assert Pooling(("mean", "max")).name == "mean+max"


def test_config_errors():
    with pytest.raises(
        ValueError,
        match=r"1_Pooling/config.json: pooling_mode = \['median'\] is "
        "not supported .*'median' is not a pooling mode",
    ):
        Pooling.from_config({"pooling_mode": "median"}, "1_Pooling/config.json")
    with pytest.raises(ValueError, match="c.json: pooling_mode = 3 is not supported"):
        Pooling.from_config({"pooling_mode": 3}, "c.json")
    with pytest.raises(ValueError, match="modes: expected at least one pooling mode"):
        Pooling(())
