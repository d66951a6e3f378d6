"""No op leaks (RELIABILITY.md's faults; the scratch cache of cpp/src/workspace.cpp, the cached
arrays of cpp/bindings/workspace.cpp): 10,000 calls of each keep the resident set flat.

The calls run on one thread: the pool allocates nothing per call, and handing tiny jobs to a
worker costs a scheduler wake-up each, milliseconds on a loaded machine."""

import os

import pytest

import attnlab as al
import kernel_calls

CALLS = 10_000
WARM_UP = 500
SLACK = 5 << 20  # bytes
OPS = kernel_calls.every_op(length=5, dim=6)


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("name", list(OPS))
def test_ten_thousand_calls_keep_rss_flat(restore_threads, name):
    al.set_num_threads(1)
    call = OPS[name]
    for _ in range(WARM_UP):
        call()
    before = resident_bytes()
    for _ in range(CALLS):
        call()
    grown = resident_bytes() - before
    assert grown <= SLACK, f"{name}: resident set grew {grown / 2**20:.1f} MiB in {CALLS} calls"
