"""Tokenizer: tokenizer.json through the tokenizers package, padding and truncation set
explicitly (never tokenizer.json's own), ids equal to transformers' tokenizer, tokens as
strings, and clear errors."""

import numpy as np
import pytest

from attnlab.pretrained import Tokenizer
from hf_folders import VOCAB, write_tokenizer
from pretrained_texts import VARIED


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return Tokenizer(write_tokenizer(tmp_path_factory.mktemp("tok")))


def test_batch_is_padded_explicitly(tiny):
    batch = tiny(["the cat sat", "a dog", ""])
    assert batch.input_ids.dtype == np.int64 and batch.key_mask.dtype == bool
    assert batch.input_ids.shape == batch.key_mask.shape == batch.token_type_ids.shape == (3, 5)
    assert batch.tokens == [
        ["[CLS]", "the", "cat", "sat", "[SEP]"],
        ["[CLS]", "a", "dog", "[SEP]"],
        ["[CLS]", "[SEP]"],
    ]
    np.testing.assert_array_equal(batch.lengths, [5, 4, 2])
    np.testing.assert_array_equal(batch.key_mask.sum(1), batch.lengths)
    assert (batch.input_ids[~batch.key_mask] == tiny.pad_id).all() and tiny.pad_id == 0
    assert [VOCAB[i] for i in batch.input_ids[0]] == batch.tokens[0]
    assert batch.word_ids[0] == [None, 0, 1, 2, None]
    assert tiny.vocab == tuple(VOCAB) and tiny.vocab_size == len(VOCAB)
    assert len(batch) == 3


def test_rows_trims_to_the_longest_row(tiny):
    batch = tiny(["the cat sat", "a dog", "big red dog"])
    two = batch.rows([1, 2])
    assert two.input_ids.shape == (2, 5) and two.tokens == batch.tokens[1:]
    one = batch.rows([1])
    assert one.input_ids.shape == (1, 4) and one.key_mask.all()


def test_truncation_counts_the_special_tokens(tmp_path):
    folder = write_tokenizer(tmp_path, model_max_length=4)
    assert Tokenizer(folder).max_length == 4
    batch = Tokenizer(folder)("the cat sat on the mat")
    assert batch.tokens == [["[CLS]", "the", "cat", "[SEP]"]]
    assert Tokenizer(folder, max_length=6).max_length == 6
    # transformers' "no limit" (int(1e30)) means none.
    assert Tokenizer(write_tokenizer(tmp_path / "b", model_max_length=int(1e30))).max_length is None


def test_words_keep_their_index(tiny):
    batch = tiny.encode_words([["def", "runs", "(", "x", ")"], ["the"]])
    assert batch.tokens[0] == ["[CLS]", "def", "run", "##s", "(", "x", ")", "[SEP]"]
    assert batch.word_ids[0] == [None, 0, 1, 1, 2, 3, 4, None]
    assert batch.word_ids[1] == [None, 0, None]


def test_empty_list_gives_empty_arrays(tiny):
    batch = tiny([])
    assert batch.input_ids.shape == batch.key_mask.shape == (0, 0) and batch.tokens == []


def test_errors_name_the_argument(tiny, tmp_path):
    with pytest.raises(TypeError, match=r"texts\[1\]: expected a str, got NoneType"):
        tiny(["ok", None])
    with pytest.raises(TypeError, match=r"texts\[2\]: expected a str, got int"):
        tiny(["ok", "fine", 3])
    with pytest.raises(TypeError, match="texts: expected a str or a list of str, got bytes"):
        tiny(b"bytes")
    with pytest.raises(TypeError, match="texts: expected a str or a list of str, got int"):
        tiny(5)
    with pytest.raises(
        TypeError, match=r"words\[0\]: expected a list of str \(one row's words\), got str"
    ):
        tiny.encode_words(["the cat"])
    with pytest.raises(TypeError, match=r"words\[0\]\[1\]: expected a str, got int"):
        tiny.encode_words([["the", 1]])
    with pytest.raises(ValueError, match="max_length: expected an int >= 2, got 1"):
        Tokenizer(write_tokenizer(tmp_path / "t"), max_length=1)
    with pytest.raises(ValueError, match="tokenizer.json: missing from"):
        Tokenizer(tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "tokenizer.json").write_text('{"version": "1.0"}')
    with pytest.raises(
        ValueError, match="tokenizer.json: not a tokenizer the tokenizers package can read"
    ):
        Tokenizer(tmp_path / "bad")


def test_a_tokenizer_json_path(tmp_path):
    folder = write_tokenizer(tmp_path)
    assert Tokenizer(folder / "tokenizer.json")("a cat").tokens == [["[CLS]", "a", "cat", "[SEP]"]]


def test_ids_match_transformers(minilm_path):
    """all-MiniLM-L6-v2's tokenizer.json asks for truncation to 128 and padding to 128 itself;
    attnlab sets its own (256, to the longest row), as sentence-transformers does."""
    transformers = pytest.importorskip("transformers")
    reference = transformers.AutoTokenizer.from_pretrained(str(minilm_path))
    ours = Tokenizer(minilm_path, max_length=256)
    batch = ours(VARIED)
    ref = reference(VARIED, padding=True, truncation=True, max_length=256, return_tensors="np")
    np.testing.assert_array_equal(batch.input_ids, ref["input_ids"])
    np.testing.assert_array_equal(batch.key_mask, ref["attention_mask"] == 1)
    np.testing.assert_array_equal(batch.token_type_ids, ref["token_type_ids"])
    assert batch.input_ids.shape[1] == 256 and batch.lengths.max() == 256
    for row, ids in zip(batch.tokens, ref["input_ids"]):
        assert row == reference.convert_ids_to_tokens(ids[: len(row)].tolist())
    # tokenizer_config.json's model_max_length (512) is the default limit.
    assert Tokenizer(minilm_path).max_length == 512
