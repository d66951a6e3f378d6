"""attnlab.bench.report: the table's rows, targets and summary lines, and the JSON."""

import io
import json

import pytest

from attnlab.bench.attention import NO_WEIGHTS, NON_CAUSAL
from attnlab.bench.denormals import NORMAL_INPUT
from attnlab.bench.generation import NO_CACHE
from attnlab.bench.libraries import after_impl
from attnlab.bench.report import machine_name, print_table, write_json
from attnlab.bench.timing import Row, summarize

INFO = dict(
    load_average=0.5,
    date="2026-12-07 19:00 UTC",
    machine="x86_64 CPU",
    arch="avx2",
    arches=["avx2"],
    threads=2,
    rounds=3,
    cold_idle_s=1.0,
    peak_gflops=100.0,
    numpy="2",
    torch=None,
    torch_cpu=None,
    numpy_threads_limited=True,
    numpy_blas="openblas Haswell",
)
SCALING = dict(shape=[1, 4, 256, 64], one_thread_ms=10.0, threads_ms=5.5, speedup=1.82)
MEMORY = dict(shape=[1, 1, 4096, 64], peak_mib=12.0, scores_mib=64.0)
SOLVE = dict(task="reverse", steps=20, seconds=1.5, accuracy=0.995, recipe="the demo's")


def _row(name, other, ratio, target="", **options):
    """A row of attnlab (1 s a round) and ``other`` (``ratio`` s a round), summarized."""
    row = Row(name, 1e9, {"attnlab": lambda: None, other: lambda: None}, target, **options)
    summarize(row, {"attnlab": [1.0, 1.0], other: [ratio, ratio]}, peak=100.0)
    return row


@pytest.fixture
def rows():
    return [
        _row("forward causal (2, 8, 2048, 64)", NON_CAUSAL, 1.9, ">= 1.8x"),
        _row("forward + weights (4, 8, 1024, 64)", NO_WEIGHTS, 0.8),
        _row(
            "forward right after torch sdpa",
            after_impl("torch sdpa"),
            1.25,
            "<= 1.3x",
            before={after_impl("torch sdpa"): lambda: None},
        ),
        _row("GPT generate", NO_CACHE, 6.0),
        _row("linear on denormals", NORMAL_INPUT, 0.5, "<= 1.3x the normal-input time"),
    ]


def test_table_has_every_result_target_and_summary(rows):
    out = io.StringIO()
    print_table(INFO, rows, SCALING, MEMORY, SOLVE, out)
    table = out.getvalue()
    for line in (
        "arch=avx2  threads=2  peak=100.0 GFLOP/s  median of 3 interleaved rounds",
        "(1-minute load average before the run: 0.5;",
        "(peers: numpy 2 with openblas Haswell, torch None with None kernels)",
        "target: >= 1.8x\n",
        "causal speed-up (2, 8, 2048, 64): 1.90x faster than non-causal (target >= 1.8x)",
        "weights cost (4, 8, 1024, 64): the forward with weights takes 1.25x the forward",
        "forward right after torch sdpa: attnlab's call takes 1.25x its steady-state time",
        "GPT generate: the key/value cache is 6.00x faster than the whole context a step",
        "linear on denormals: attnlab takes 2.00x its time on a normal input (target <= 1.3x)",
        "target: <= 1.3x the normal-input time\n",
        "scaling (1, 4, 256, 64): 1 thread 10.0 ms, 2 threads 5.5 ms, speed-up 1.82x",
        "grows peak RSS by 12.0 MiB",
        "time to solve reverse: 99.5% test token accuracy after 20 steps in 1.5 s",
    ):
        assert line in table, line
    for row in rows:
        for r in row.results:
            assert f"{r.impl:19} {r.median_ms:9.2f}" in table


def test_header_gives_every_measured_arch_peak(rows):
    out = io.StringIO()
    info = dict(INFO, arch_peak_gflops={"avx2": 100.0, "sse2": 40.5})
    print_table(info, rows, SCALING, MEMORY, SOLVE, out)
    assert "arch=avx2  threads=2  peak=100.0, sse2 40.5 GFLOP/s  median" in out.getvalue()


def test_json_holds_every_result(rows):
    out = io.StringIO()
    write_json(INFO, rows, None, MEMORY, SOLVE, out)
    report = json.loads(out.getvalue())
    assert report["info"] == INFO and report["scaling"] is None
    assert len(report["results"]) == 2 * len(rows)
    assert {
        "row",
        "impl",
        "median_ms",
        "gflops",
        "percent_peak",
        "ratio",
        "peak_mib",
        "samples_ms",
    } == set(report["results"][0])


def test_machine_name_names_the_platform():
    assert machine_name().split()[0] in ("x86_64", "aarch64", "arm64", "AMD64")
