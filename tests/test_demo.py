"""``python -m attnlab demo`` (the README's main command) runs end to end and shows what its two
hand-built heads are meant to show."""

import numpy as np

import attnlab as al
from attnlab import _demo
from attnlab.__main__ import main


def test_demo_prints_both_heads(capsys):
    assert main(["demo", "--no-timing"]) == 0
    out = capsys.readouterr().out
    assert "head 0: attends to earlier copies of the same word" in out
    assert "head 1: attends to the previous token" in out
    assert out.count("\nrug ") == 2  # the last query row of each table


def test_demo_heads_attend_where_they_say():
    words = _demo.SENTENCE
    q, k, v = _demo.heads(words)
    _, w = al.functional.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                      return_weights=True)
    for i in range(1, len(words)):
        # head 1: most weight on the previous token
        assert np.argmax(w[0, 1, i]) == i - 1
        # head 0: the same word (itself or an earlier copy) gets the most weight
        assert words[int(np.argmax(w[0, 0, i]))] == words[i]
