"""attnlab.bench.attention: the rows' peers compute what attnlab computes."""

import numpy as np

from attnlab.bench.attention import (
    NON_CAUSAL,
    attention_inputs,
    attention_rows,
    numpy_attention,
    thread_scaling,
)


def _first(result):
    """The output (the forward's) or dq (the backward's) of an implementation's call."""
    result = result[0] if isinstance(result, tuple | list) else result
    return np.asarray(result.detach() if hasattr(result, "detach") else result)


def test_every_peer_computes_attnlabs_result(torch):
    for row in attention_rows(True, torch):
        expected = _first(row.impls["attnlab"]())
        for name, fn in row.impls.items():
            if name != NON_CAUSAL:  # another computation, timed for the speed-up
                np.testing.assert_allclose(_first(fn()), expected, atol=2e-4, err_msg=row.name)


def test_numpy_peer_returns_the_weights_of_its_output():
    q, k, v = attention_inputs((1, 2, 16, 8))
    out, w = numpy_attention(q, k, v, causal=True, weights=True)
    assert np.allclose(w.sum(-1), 1) and np.all(np.triu(w[0, 0], 1) == 0)
    np.testing.assert_allclose(out, w @ v, rtol=1e-6)


def test_cold_row_is_listed_for_the_small_forward():
    rows = {row.name: row for row in attention_rows(True, None)}
    cold = [row for row in rows.values() if row.cold]
    assert [row.name for row in cold] == ["forward (8, 4, 128, 32) cold call"]
    assert not any(row.cold for row in rows.values() if row not in cold)
    assert "numpy" not in cold[0].impls


def test_scaling_needs_two_threads():
    assert thread_scaling(True, 1, 1) is None
