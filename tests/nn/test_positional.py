"""nn/positional.py: the tables and biases against the float64 oracles and functional ops,
gradients into learned tables, buffers kept out of state_dict, positions past max length."""

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import gradcheck
from reference_blocks import rope, sinusoidal

nn = al.nn
F = al.functional


def test_sinusoidal_adds_the_table_at_an_offset(rng):
    m = nn.SinusoidalPositionalEncoding(6, max_len=12)
    x = rng.standard_normal((2, 4, 6)).astype(np.float32)
    np.testing.assert_allclose(m(x).data, x + sinusoidal(4, 6), atol=1e-6)
    np.testing.assert_allclose(m(x, offset=8).data, x + sinusoidal(4, 6, offset=8), atol=1e-6)
    assert "pe" in dict(m.named_buffers()) and m.state_dict() == {}  # non-persistent
    assert m.double().pe.dtype == np.float64
    xt = al.tensor(x.astype(np.float64), requires_grad=True)
    m(xt).sum().backward()
    np.testing.assert_array_equal(xt.grad, np.ones_like(xt.data))


def test_learned_adds_rows_and_gets_their_gradients(rng):
    m = nn.LearnedPositionalEmbedding(10, 4).double()
    assert [n for n, _ in m.named_parameters()] == ["weight"] and m.weight.shape == (10, 4)
    x = al.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    np.testing.assert_array_equal(m(x, offset=5).data, x.data + m.weight.data[5:8])
    m(x, offset=5).sum().backward()
    expected = np.zeros((10, 4))
    expected[5:8] = 2  # both batch rows
    np.testing.assert_array_equal(m.weight.grad, expected)
    assert gradcheck(lambda x, w: m(x, offset=7), (x, m.weight))


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.SinusoidalPositionalEncoding(4, max_len=6),
        lambda: nn.LearnedPositionalEmbedding(6, 4),
    ],
)
def test_absolute_positions_past_max_len_and_bad_shapes(make):
    m = make()
    x = np.zeros((1, 4, 4), np.float32)
    m(x, offset=2)  # positions 2..5 fit
    with pytest.raises(ValueError, match="positions 3..6 reach past max_len=6"):
        m(x, offset=3)
    with pytest.raises(ValueError, match="axis -1 \\(C\\) has size 3"):
        m(np.zeros((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match="offset: expected an int >= 0"):
        m(x, offset=-1)
    with pytest.raises(ValueError, match="x: expected \\(B, L, C\\)"):
        m(np.zeros(4, np.float32))


@pytest.mark.parametrize("options", [{}, {"rotary_dim": 2, "interleaved": True}, {"base": 100.0}])
def test_rotary_equals_the_oracle_with_an_offset(rng, options):
    m = nn.RotaryEmbedding(4, **options)
    q = rng.standard_normal((2, 2, 5, 4))
    k = rng.standard_normal((2, 1, 5, 4))
    qr, kr = m(al.tensor(q), al.tensor(k), offset=3)
    base = options.get("base", 10000.0)
    opts = dict(
        base=base,
        rotary_dim=options.get("rotary_dim"),
        interleaved=options.get("interleaved", False),
    )
    np.testing.assert_allclose(qr.data, rope(q, np.arange(3, 8), **opts), atol=1e-12)
    np.testing.assert_allclose(kr.data, rope(k, np.arange(3, 8), **opts), atol=1e-12)
    x = al.tensor(q, requires_grad=True)
    assert gradcheck(lambda x: m.rotate(x, offset=2), x)
    with pytest.raises(ValueError, match="D = dim = 4"):
        m.rotate(al.tensor(np.zeros((1, 2, 6))))
    with pytest.raises(ValueError, match="rotary_dim: expected an even int <= dim=4"):
        nn.RotaryEmbedding(4, rotary_dim=3)


def test_alibi_slopes_buffer_and_dense_bias():
    m = nn.ALiBi(6)
    np.testing.assert_array_equal(m.slopes, F.alibi_slopes(6, dtype=np.float32))
    assert m.state_dict() == {} and m.double().slopes.dtype == np.float64
    np.testing.assert_array_equal(m(3, 5), F.alibi_bias(6, 3, 5, dtype=np.float64))


def test_relative_position_bias_gathers_the_table_and_trains_it(rng):
    m = nn.RelativePositionBias(3, num_buckets=8, max_distance=20, bidirectional=False).double()
    assert list(m.state_dict()) == ["relative_attention_bias.weight"]
    table = m.relative_attention_bias.weight
    assert table.shape == (8, 3)
    buckets = F.relative_position_bucket(4, 6, num_buckets=8, max_distance=20, bidirectional=False)
    bias = m(4, 6)
    assert bias.shape == (3, 4, 6)
    np.testing.assert_array_equal(bias.data, np.moveaxis(table.data[buckets], -1, 0))
    assert gradcheck(lambda w: m(4, 6), table)
    with pytest.raises(ValueError, match="max_distance"):
        nn.RelativePositionBias(2, num_buckets=8, max_distance=2)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda n: nn.SinusoidalPositionalEncoding(n, max_len=6), "d_model"),
        (lambda n: nn.SinusoidalPositionalEncoding(4, max_len=n), "max_len"),
        (lambda n: nn.LearnedPositionalEmbedding(n, 4), "max_positions"),
        (lambda n: nn.LearnedPositionalEmbedding(6, n), "embedding_dim"),
        (lambda n: nn.RotaryEmbedding(n), "dim"),
        (lambda n: nn.RotaryEmbedding(4, rotary_dim=n), "rotary_dim"),
        (lambda n: nn.ALiBi(n), "num_heads"),
        (lambda n: nn.RelativePositionBias(n), "num_heads"),
        (lambda n: nn.RelativePositionBias(2, num_buckets=n), "num_buckets"),
        (lambda n: nn.RelativePositionBias(2, max_distance=n), "max_distance"),
    ],
)
def test_sizes_must_be_positive_ints(make, name):
    for n in (0, -3):
        with pytest.raises(ValueError, match=f"{name}: must be positive, got {n}"):
            make(n)
    with pytest.raises(TypeError, match=f"{name}: expected an int, got float"):
        make(4.0)
