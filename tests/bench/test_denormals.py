"""attnlab.bench.denormals: the input is denormal, torch gets the same data, and the row is a
kernel row compared with attnlab on a normal input."""

import numpy as np

import attnlab as al
from attnlab.bench.denormals import NORMAL_INPUT, denormal_input, denormal_rows
from attnlab.bench.timing import add_arches, arch_impl

TINY = np.finfo(np.float32).tiny  # the smallest normal float32


def test_input_is_denormal():
    x = denormal_input((256, 64))
    assert x.dtype == np.float32
    nonzero = x[x != 0]
    assert nonzero.size > 0.99 * x.size and np.all(np.abs(nonzero) < TINY)


def test_row_compares_the_same_data_and_a_normal_input(torch):
    (row,) = denormal_rows(True, torch)
    assert row.name == "linear (512x256) @ (256x256) on denormals"
    assert row.target == "<= 1.3x the normal-input time"
    assert set(row.impls) == {"attnlab", NORMAL_INPUT, "torch"}
    ours, theirs = row.impls["attnlab"](), row.impls["torch"]().numpy()
    # Whether the core flushes denormals or not, both results are within a denormal of zero.
    assert ours.shape == theirs.shape == (512, 256)
    assert np.abs(theirs).max() < 1e3 * TINY and np.abs(theirs).max() > 0
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e3 * TINY)
    normal = row.impls[NORMAL_INPUT]()
    assert np.abs(normal).min() >= 0 and np.abs(normal).max() > 1


def test_row_gets_every_arch():
    rows = denormal_rows(True, None)
    add_arches(rows, al.arch.available())
    others = {arch_impl(a) for a in al.arch.available() if a != al.arch.current()}
    assert set(rows[0].impls) == {"attnlab", NORMAL_INPUT} | others
