"""The allocation budget (_allocation.py) that load_model builds a model under."""

import numpy as np
import pytest

import attnlab as al
from attnlab import _allocation

nn = al.nn


def test_no_limit_outside_the_block():
    _allocation.reserve((10**12,))  # counts nothing, allows anything
    assert nn.Linear(3, 2).weight.shape == (2, 3)


def test_parameters_tables_and_layer_copies_count_against_the_limit():
    with _allocation.limit(6 + 2, 2):
        nn.Linear(3, 2)  # 6 + 2 numbers in 2 arrays: exactly the budget
    with (
        _allocation.limit(7, 2),
        pytest.raises(
            ValueError,
            match=r"a parameter of 2 numbers in 1 arrays exceeds what is left of "
            r"the allocation limit \(1 numbers in 1 arrays\)",
        ),
    ):
        nn.Linear(3, 2)
    with _allocation.limit(100, 1), pytest.raises(ValueError, match="0 arrays"):
        nn.Linear(3, 2)
    with (
        _allocation.limit(10**6, 10),
        pytest.raises(ValueError, match="a position table of 16000000 numbers"),
    ):
        nn.SinusoidalPositionalEncoding(16, 10**6)
    with _allocation.limit(10**6, 10), pytest.raises(ValueError, match="ALiBi's slopes"):
        nn.ALiBi(10**7)
    layer = nn.TransformerEncoderLayer(4, 1, 4)
    with (
        _allocation.limit(10**6, 10**3),
        pytest.raises(ValueError, match="a copy of encoder_layer"),
    ):
        nn.TransformerEncoder(layer, 10**5)
    with _allocation.limit(10**6, 100), pytest.raises(ValueError, match="a position table"):
        al.models.Seq2Seq(5, 5, max_len=10**6, d_model=8, n_head=2)


def test_limits_nest_and_end_with_their_block():
    with _allocation.limit(100, 100):
        with _allocation.limit(1, 1), pytest.raises(ValueError):
            nn.Linear(2, 2)
        nn.Linear(2, 2)  # the outer budget again
    big = nn.Embedding(1000, 100)
    assert big.weight.dtype == np.float32
