"""SentenceEncoder: all-MiniLM-L6-v2's embeddings against sentence-transformers' (cosine >=
0.99999, max abs error <= 1e-5, long texts truncated alike), encode's contract (order, shapes,
batch independence, the bar, errors; RELIABILITY item 34), the folder checks, and a run with
torch made unimportable."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import attnlab
from attnlab.pretrained import SentenceEncoder
from hf_folders import write_sentence_model
from pretrained_texts import VARIED


# ---- all-MiniLM-L6-v2 against sentence-transformers ----------------------------------------
def test_embeddings_match_sentence_transformers(minilm, st_model):
    ours = minilm.encode(VARIED)
    ref = st_model.encode(VARIED, batch_size=32, convert_to_numpy=True)
    assert ours.shape == ref.shape == (len(VARIED), 384) and ours.dtype == np.float32
    cosine = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cosine.min() >= 0.99999, cosine
    assert np.abs(ours - ref).max() <= 1e-5, np.abs(ours - ref).max(axis=1)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-6)


def test_long_texts_are_truncated_as_the_reference(minilm, st_model):
    """Texts of 400+ tokens are cut to max_seq_length = 256 tokens, [CLS] and [SEP] included:
    the same ids as sentence-transformers' tokenization, and the embedding of the text
    equals that of its first 254 word pieces."""
    long = [t for t in VARIED if minilm.tokenize(t).lengths[0] == 256]
    assert len(long) >= 3
    ours = minilm.tokenize(long)
    ref = st_model.tokenize(long)
    np.testing.assert_array_equal(ours.input_ids, ref["input_ids"].numpy())
    assert ours.input_ids.shape == (len(long), 256)
    text = " ".join(["attention"] * 254)
    np.testing.assert_array_equal(minilm.encode(" ".join(["attention"] * 400)), minilm.encode(text))


def test_batch_size_and_order_do_not_change_embeddings(minilm):
    texts = VARIED[:12]
    whole = minilm.encode(texts, batch_size=32)
    for batch_size in (1, 5):
        np.testing.assert_allclose(minilm.encode(texts, batch_size=batch_size), whole, atol=2e-6)
    np.testing.assert_allclose(minilm.encode(texts[::-1])[::-1], whole, atol=2e-6)


# ---- encode's contract, on a tiny sentence model --------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return SentenceEncoder(write_sentence_model(tmp_path_factory.mktemp("st")))


def test_shapes_and_single_text(tiny):
    assert tiny.dim == 8 and tiny.normalize and tiny.max_seq_length == 12
    many = tiny.encode(["the cat sat", "a dog", "the cat sat"])
    assert many.shape == (3, 8) and many.dtype == np.float32
    np.testing.assert_array_equal(many[0], many[2])
    one = tiny.encode("a dog")
    assert one.shape == (8,)
    np.testing.assert_allclose(one, many[1], atol=1e-6)
    empty = tiny.encode([])
    assert empty.shape == (0, 8) and empty.dtype == np.float32
    assert "SentenceEncoder(BERT 2 layers x 2 heads, dim=8, max_seq_length=12" in repr(tiny)


def test_pooling_and_normalization(tmp_path):
    """Without Normalize the mean of the real tokens' hidden states; cls+max concatenated."""
    plain = SentenceEncoder(write_sentence_model(tmp_path / "a", normalize=False))
    texts = ["the big red dog runs", "a cat"]
    pooled = plain.encode(texts)
    batch = plain.tokenize(texts)
    with attnlab.no_grad():
        hidden = plain.model(batch.input_ids, key_mask=batch.key_mask).data
    for row, n in enumerate(batch.lengths):
        np.testing.assert_allclose(pooled[row], hidden[row, :n].mean(0), atol=1e-6)
    both = SentenceEncoder(
        write_sentence_model(
            tmp_path / "b",
            pooling={"pooling_mode_cls_token": True, "pooling_mode_max_tokens": True},
        )
    )
    assert both.dim == 16 and both.encode(texts).shape == (2, 16)


def test_encode_errors(tiny):
    with pytest.raises(TypeError, match=r"texts\[1\]: expected a str, got NoneType"):
        tiny.encode(["fine", None])
    with pytest.raises(TypeError, match=r"texts\[0\]: expected a str, got float"):
        tiny.encode([1.5])
    with pytest.raises(TypeError, match="texts: expected a str or a list of str, got int"):
        tiny.encode(3)
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1, got 0"):
        tiny.encode(["a"], batch_size=0)
    with pytest.raises(TypeError, match="batch_size: expected an int, got float"):
        tiny.encode(["a"], batch_size=2.0)
    with pytest.raises(TypeError, match="progress: expected a bool or None, got str"):
        tiny.encode(["a"], progress="yes")


def test_progress_bar(tiny, capsys):
    pytest.importorskip("tqdm")
    tiny.encode(["a cat"] * 3, batch_size=1, progress=True)
    assert "encode" in capsys.readouterr().err
    tiny.encode(["a cat"] * 7, batch_size=1)  # fewer than 8 batches: no bar by default
    tiny.encode(["a cat"] * 9, batch_size=1, progress=False)
    assert capsys.readouterr().err == ""
    tiny.encode(["a cat"] * 8, batch_size=1)
    assert "8/8" in capsys.readouterr().err


def test_lowercase_setting(tmp_path):
    folder = write_sentence_model(tmp_path)
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 12, "do_lower_case": True})
    )
    assert SentenceEncoder(folder).tokenize(["The CAT"]).tokens == [
        ["[CLS]", "the", "cat", "[SEP]"]
    ]


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda f: (f / "modules.json").unlink(), "modules.json: missing from"),
        (
            lambda f: (f / "modules.json").write_text('{"a": 1}'),
            "modules.json: expected a JSON list of module objects",
        ),
        (
            lambda f: _modules(
                f,
                lambda m: m.insert(
                    2, {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}
                ),
            ),
            "modules.json: module type 'sentence_transformers.models.Dense' is not supported",
        ),
        (
            lambda f: _modules(f, lambda m: m.reverse()),
            "modules.json: the modules .* are not supported",
        ),
        (
            lambda f: _modules(f, lambda m: m[1].update(path="../elsewhere")),
            "modules.json: path '../elsewhere' is not a folder inside the model",
        ),
        (
            lambda f: (f / "1_Pooling" / "config.json").unlink(),
            "config.json: missing from .*1_Pooling",
        ),
        (
            lambda f: (f / "1_Pooling" / "config.json").write_text('{"pooling_mode": "median"}'),
            "1_Pooling/config.json: pooling_mode = \\['median'\\] is not supported",
        ),
        (
            lambda f: (f / "sentence_bert_config.json").write_text('{"max_seq_length": "long"}'),
            "sentence_bert_config.json: max_seq_length = 'long' is not supported",
        ),
        (lambda f: (f / "tokenizer.json").unlink(), "tokenizer.json: missing from"),
    ],
)
def test_folder_errors(tmp_path, edit, match):
    folder = write_sentence_model(tmp_path)
    edit(folder)
    with pytest.raises(ValueError, match=match):
        SentenceEncoder(folder)


def _modules(folder: Path, change) -> None:
    modules = json.loads((folder / "modules.json").read_text())
    change(modules)
    (folder / "modules.json").write_text(json.dumps(modules))


def test_max_seq_length_is_capped_by_the_positions(tmp_path):
    folder = write_sentence_model(tmp_path, max_seq_length=100)
    encoder = SentenceEncoder(folder)
    assert encoder.max_seq_length == 16  # max_position_embeddings
    assert encoder.encode(" ".join(["cat"] * 40)).shape == (8,)


# ---- no torch ---------------------------------------------------------------------------------
NO_TORCH = """
import sys
sys.modules["torch"] = None  # any import of torch now raises ImportError
import attnlab as al
import attnlab.pretrained
encoder = attnlab.pretrained.SentenceEncoder(sys.argv[1])
vectors = encoder.encode(["the cat sat on the mat", "a dog runs"])
with al.record_attention(encoder.model) as rec, al.no_grad():
    batch = encoder.tokenize("the cat")
    encoder.model(batch.input_ids, key_mask=batch.key_mask)
print(vectors.shape, len(rec), "torch" in sys.modules and sys.modules["torch"] is None)
"""


def test_runs_without_torch(tmp_path, minilm_path):
    """Import, load all-MiniLM-L6-v2, encode and record attention with torch unimportable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(attnlab.__file__).parent.parent)]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(minilm_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "(2, 384) 6 True"


def test_encode_runs_in_eval_mode_and_restores_the_mode(tiny):
    """A model left in training mode (fine-tuning) still encodes without dropout."""
    before = tiny.encode(["the cat sat on the mat"])
    tiny.model.train()
    try:
        np.testing.assert_array_equal(tiny.encode(["the cat sat on the mat"]), before)
        assert tiny.model.training
    finally:
        tiny.model.eval()


def test_float64_encoder(tmp_path):
    folder = write_sentence_model(tmp_path)
    texts = ["the cat sat", "a big red dog"]
    wide = SentenceEncoder(folder, dtype=np.float64).encode(texts)
    assert wide.dtype == np.float64
    np.testing.assert_allclose(wide, SentenceEncoder(folder).encode(texts), atol=1e-6)
