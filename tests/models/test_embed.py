"""What the models share (models/_embed.py): the checks of token ids, run through every model
entry point so that each error names the argument its caller passed."""

import numpy as np
import pytest

import attnlab as al
from attnlab.models import GPT, EncoderClassifier, Seq2Seq

VOCAB = 5


def entry_points():
    """(argument name, vocab_size's name, a call taking that argument), one per model input."""
    al.manual_seed(0)
    gpt = GPT(VOCAB, 8, n_layer=1, n_head=2, d_model=8)
    classifier = EncoderClassifier(VOCAB, 2, max_len=8, n_layer=1, n_head=2, d_model=8)
    seq2seq = Seq2Seq(VOCAB, VOCAB, max_len=8, n_layer=1, n_head=2, d_model=8)
    memory = seq2seq.encode(np.zeros((1, 3), np.int64))
    return [
        ("idx", "vocab_size", gpt),
        ("idx", "vocab_size", lambda idx: gpt.generate(idx, 1, temperature=0)),
        ("idx", "vocab_size", classifier),
        ("src", "src_vocab_size", seq2seq.encode),
        ("tgt", "tgt_vocab_size", lambda tgt: seq2seq.decode(tgt, memory)),
    ]


@pytest.mark.parametrize("case", range(5))
def test_token_id_errors_name_the_argument(case):
    name, vocab_name, call = entry_points()[case]
    with pytest.raises(TypeError, match=f"{name}: expected an integer dtype, got float64"):
        call(np.zeros((1, 3)))
    with pytest.raises(TypeError, match=f"{name}: expected an integer dtype, got bool"):
        call(np.zeros((1, 3), bool))
    with pytest.raises(TypeError, match=f"{name}: expected a NumPy array of integers, got list"):
        call([[1, 2]])
    with pytest.raises(ValueError, match=rf"{name}: expected 2 dimensions \(B, T\), got shape"):
        call(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=rf"{name}: 5 is out of range \[0, {vocab_name}=5\)"):
        call(np.array([[1, VOCAB]]))
    with pytest.raises(ValueError, match=rf"{name}: -1 is out of range \[0, {vocab_name}=5\)"):
        call(np.array([[-1, 2]], np.int32))


@pytest.mark.parametrize("case", range(5))
def test_any_integer_dtype_and_a_tensor_are_token_ids(case):
    call = entry_points()[case][2]
    ids = np.array([[1, 4, 0]])
    expected = call(ids)
    expected = expected.data if isinstance(expected, al.Tensor) else expected
    for same in (ids.astype(np.uint8), ids.astype(np.int32), al.Tensor(ids)):
        got = call(same)
        np.testing.assert_array_equal(got.data if isinstance(got, al.Tensor) else got, expected)
