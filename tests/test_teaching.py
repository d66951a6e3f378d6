"""attnlab/teaching.py: check() prints what it checked and raises when a claim is false."""

import numpy as np
import pytest

import attnlab as al
from attnlab.teaching import ClaimError, check


def test_a_true_claim_prints_itself_and_its_numbers(capsys):
    loss = 0.0812345
    check("the loss fell", loss < 0.1, loss=loss, threshold=0.1, steps=200)
    assert (
        capsys.readouterr().out
        == "✓ the loss fell  (loss = 0.08123, threshold = 0.1, steps = 200)\n"
    )


def test_numpy_bools_and_numbers_are_shown_plainly(capsys):
    scores = np.array([0.8912, 0.07, 0.5])
    check(
        "a head forms",
        scores.max() > 0.8,
        best=scores.max(),
        scores=scores,
        head=np.int64(0),
        solved=np.bool_(True),
    )
    out = capsys.readouterr().out
    assert out.startswith("✓ a head forms  (best = 0.8912, scores = [0.891, 0.07 , 0.5  ], ")
    assert out.endswith("head = 0, solved = True)\n")


def test_a_claim_without_numbers(capsys):
    check("rows sum to 1", np.array(True))
    assert capsys.readouterr().out == "✓ rows sum to 1\n"


def test_a_false_claim_raises_with_its_numbers_and_prints_no_tick(capsys):
    with pytest.raises(ClaimError, match=r"claim does not hold: the loss fell  \(loss = 3\.4\)"):
        loss = 3.4
        check("the loss fell", loss < 0.1, loss=loss)
    assert capsys.readouterr().out == ""
    assert issubclass(ClaimError, AssertionError)  # pytest and nbclient report it as a failure


def test_an_array_condition_is_refused_rather_than_guessed():
    with pytest.raises(
        TypeError, match=r"condition: .*ndarray of shape \(3,\).*\.all\(\) or \.any\(\)"
    ):
        check("every row sums to 1", np.array([True, True, False]))
    with pytest.raises(TypeError, match="condition: expected a bool"):
        check("the loss", 0.1)
    with pytest.raises(TypeError, match="condition: expected a bool"):
        check("ints are not claims", np.array([1]))


def test_the_claim_must_say_something():
    with pytest.raises(TypeError, match="claim: expected a non-empty str"):
        check("", True)
    with pytest.raises(TypeError, match="claim: expected a non-empty str"):
        check(None, True)


def test_exported_from_the_package():
    assert al.check is check and al.teaching.ClaimError is ClaimError
