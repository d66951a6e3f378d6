"""The size-only positional helpers of attnlab/_positional.py: sinusoidal tables, ALiBi slopes
and bias, T5 relative buckets, sliding windows."""

import math

import numpy as np
import pytest

import attnlab as al
import reference_blocks as ref

F = al.functional


@pytest.mark.parametrize("length,dim,offset", [(1, 1, 0), (7, 9, 0), (16, 64, 3), (5, 17, 100_000)])
def test_item_28_sinusoidal_matches_oracle(length, dim, offset):
    table = F.sinusoidal_positional_encoding(length, dim, offset=offset, dtype=np.float64)
    np.testing.assert_allclose(table, ref.sinusoidal(length, dim, offset=offset), atol=1e-12)
    default = F.sinusoidal_positional_encoding(length, dim, offset=offset)
    assert default.dtype == np.float32
    np.testing.assert_array_equal(default, table.astype(np.float32))


def test_sinusoidal_offset_and_base():
    full = F.sinusoidal_positional_encoding(20, 10, base=100.0)
    np.testing.assert_array_equal(
        F.sinusoidal_positional_encoding(5, 10, base=100.0, offset=15), full[15:]
    )
    np.testing.assert_allclose(full[3, 2], math.sin(3 / 100 ** (2 / 10)), rtol=1e-6)
    np.testing.assert_allclose(full[3, 3], math.cos(3 / 100 ** (2 / 10)), rtol=1e-6)
    assert F.sinusoidal_positional_encoding(0, 4).shape == (0, 4)


def test_alibi_slopes_match_the_paper():
    np.testing.assert_array_equal(F.alibi_slopes(8), [2.0**-i for i in range(1, 9)])
    np.testing.assert_array_equal(F.alibi_slopes(16), [2.0 ** (-i / 2) for i in range(1, 17)])
    # 12 heads: the 8-head slopes, then every other slope of 16 heads (2^-0.5, 2^-1.5, ...).
    expected12 = [2.0**-i for i in range(1, 9)] + [2.0 ** -(i + 0.5) for i in range(0, 4)]
    np.testing.assert_allclose(F.alibi_slopes(12), expected12, rtol=1e-15)
    expected6 = [2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3]
    np.testing.assert_allclose(F.alibi_slopes(6), expected6, rtol=1e-15)
    assert F.alibi_slopes(1).tolist() == [2.0**-8]
    assert F.alibi_slopes(0).shape == (0,)


def test_alibi_bias():
    bias = F.alibi_bias(8, 3, 5)
    assert bias.shape == (8, 3, 5) and bias.dtype == np.float32
    slopes = F.alibi_slopes(8)
    for h, i, j in [(0, 0, 0), (0, 2, 0), (3, 1, 4), (7, 2, 4)]:
        assert bias[h, i, j] == np.float32(-slopes[h] * abs(i - j))
    right = F.alibi_bias(8, 3, 5, causal_alignment="bottom_right", dtype=np.float64)
    np.testing.assert_array_equal(right[:, :, 2:], F.alibi_bias(8, 3, 3, dtype=np.float64))
    assert right[0, 0, 0] == -slopes[0] * 2


def test_alibi_slopes_of_a_huge_num_heads_fail_at_once():
    # Found by fuzz/fuzz_functional.py: the slopes were a Python list, built for hours.
    with pytest.raises(
        ValueError, match="num_heads: 4611686018427387904 slopes do not fit in memory"
    ):
        F.alibi_slopes(2**62)


def test_alibi_bias_drives_attention(rng):
    q, k, v = (rng.standard_normal((1, 4, 6, 8)) for _ in range(3))
    bias = F.alibi_bias(4, 6, 6, dtype=np.float64)
    out = F.scaled_dot_product_attention(q, k, v, bias=bias[None], is_causal=True)
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(8) + bias
    scores = np.where(np.tril(np.ones((6, 6), bool)), scores, -np.inf)
    np.testing.assert_allclose(out, ref.softmax(scores) @ v, atol=1e-12)


def test_t5_buckets_hand_checked():
    # Bidirectional, 32 buckets, max_distance 128: 16 per direction, 8 exact; relative = j - i.
    row = F.relative_position_bucket(1, 200)[0]  # keys after the query: buckets 16..31
    assert [row[d] for d in (0, 1, 7, 8, 12, 16, 20, 127, 128, 199)] == [
        0,
        17,
        23,
        24,
        25,
        26,
        26,
        31,
        31,
        31,
    ]
    col = F.relative_position_bucket(200, 1)[:, 0]  # keys before the query: buckets 0..15
    assert [col[d] for d in (0, 1, 7, 8, 12, 16, 20, 127, 128, 199)] == [
        0,
        1,
        7,
        8,
        9,
        10,
        10,
        15,
        15,
        15,
    ]
    # Causal: 16 exact buckets, later keys all in bucket 0.
    causal = F.relative_position_bucket(200, 200, bidirectional=False)
    assert [causal[d, 0] for d in (0, 1, 15, 16, 32, 127, 128)] == [0, 1, 15, 16, 21, 31, 31]
    assert (causal[np.triu_indices(200, 1)] == 0).all()
    # A bucket depends on j - i only.
    full = F.relative_position_bucket(7, 9, num_buckets=8, max_distance=16)
    for i in range(7):
        for j in range(9):
            assert full[i, j] == full[0, j - i] if j >= i else full[i, j] == full[i - j, 0]
    assert full.dtype == np.int64


def test_sliding_window_drives_attention(rng):
    assert F.sliding_window(4) == (3, 0)
    assert F.sliding_window(5, causal=False) == (2, 2)
    q, k, v = (rng.standard_normal((1, 2, 9, 4)) for _ in range(3))
    i, j = np.arange(9)[:, None], np.arange(9)[None, :]
    for window, band in [
        (F.sliding_window(3), (j <= i) & (j >= i - 2)),
        (F.sliding_window(3, causal=False), abs(i - j) <= 1),
    ]:
        np.testing.assert_allclose(
            F.scaled_dot_product_attention(q, k, v, window=window),
            F.scaled_dot_product_attention(q, k, v, mask=band),
            atol=1e-12,
        )


def test_errors():
    with pytest.raises(ValueError, match="dim: expected an int >= 0, got -1"):
        F.sinusoidal_positional_encoding(4, -1)
    with pytest.raises(ValueError, match="offset: expected an int >= 0"):
        F.sinusoidal_positional_encoding(4, 4, offset=-2)
    with pytest.raises(TypeError, match="dtype: expected float32 or float64, got int32"):
        F.sinusoidal_positional_encoding(4, 4, dtype=np.int32)
    with pytest.raises(ValueError, match="num_heads: expected an int >= 0"):
        F.alibi_slopes(-1)
    with pytest.raises(ValueError, match="causal_alignment: expected one of"):
        F.alibi_bias(2, 3, 3, causal_alignment="left")
    with pytest.raises(ValueError, match="max_distance: expected > 8"):
        F.relative_position_bucket(3, 3, max_distance=8)
    with pytest.raises(ValueError, match="num_buckets: too few buckets"):
        F.relative_position_bucket(3, 3, num_buckets=3)
    with pytest.raises(ValueError, match="size: a centred window needs an odd size, got 4"):
        F.sliding_window(4, causal=False)
    with pytest.raises(ValueError, match="size: expected an int >= 1, got 0"):
        F.sliding_window(0)
