"""attnlab.bench.layers: the linear and building-block rows' peers compute attnlab's result."""

import inspect

import numpy as np

from attnlab.bench.layers import block_rows, linear_rows, module_rows


def test_every_peer_computes_attnlabs_result(torch):
    rows = linear_rows(True, torch) + block_rows(True, torch)
    assert [row.name.split(" (")[0] for row in rows] == [
        "linear",
        "layer_norm",
        "gelu",
        "cross_entropy",
    ]
    for row in rows:
        expected = np.asarray(row.impls["attnlab"]())
        assert len(row.impls) >= 2, row.name
        for fn in row.impls.values():
            np.testing.assert_allclose(np.asarray(fn()), expected, rtol=1e-4, atol=1e-4)


def test_multihead_attention_row_fills_the_gradients(torch):
    (row,) = module_rows(True, torch)
    assert set(row.impls) == {"attnlab", "torch"} and row.flops > 0
    mha = inspect.getclosurevars(row.impls["attnlab"]).nonlocals["mha"]
    row.impls["attnlab"]()  # forward + backward: every parameter gets its gradient
    assert all(np.abs(p.grad).max() > 0 for p in mha.parameters())
