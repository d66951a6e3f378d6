"""attnlab.bench (``python -m attnlab bench --quick``): runs end to end and reports every row
and impl, on every arch with --arch all."""

import json
from dataclasses import fields

import pytest

import attnlab as al
from attnlab.__main__ import main
from attnlab.bench import run as bench_run
from attnlab.bench.denormals import NORMAL_INPUT
from attnlab.bench.libraries import after_impl
from attnlab.bench.timing import Result, arch_impl

LIBRARIES = ("numpy matmul", "torch sdpa")  # the rows of attnlab after another library


def test_quick_json(capsys):
    assert (
        main(["bench", "--quick", "--json", "--rounds", "1", "--threads", "1", "--arch", "all"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["info"]["threads"] == 1 and report["info"]["peak_gflops"] > 0
    assert report["info"]["arches"] == al.arch.available()
    rows = {r["row"] for r in report["results"]}
    assert any(name.endswith("cold call") for name in rows)
    assert any(name.startswith("forward + backward") for name in rows)
    assert any(name.startswith("linear") for name in rows)
    for block in (
        "layer_norm",
        "gelu",
        "cross_entropy",
        "nn.MultiheadAttention fwd+bwd",
        "autograd chain of 50 ops",
        "small GPT step",
        "medium GPT step",
    ):
        assert any(name.startswith(block) for name in rows)
    if report["info"]["torch"] is not None:  # the peer runs wherever torch is installed
        assert ("nn.MultiheadAttention fwd+bwd (4, 128, 128)", "torch") in {
            (r["row"], r["impl"]) for r in report["results"]
        }
    attnlab = {r["row"]: r for r in report["results"] if r["impl"] == "attnlab"}
    assert set(attnlab) == rows  # every row has attnlab, its reference
    for r in report["results"]:
        assert set(r) == {field.name for field in fields(Result)}
        assert r["median_ms"] > 0 and len(r["samples_ms"]) == 1
        assert r["gflops"] > 0 or r["row"].split()[0] in (
            "layer_norm",
            "gelu",
            "cross_entropy",
            "AdamW",
            "autograd",
            "small",
            "medium",
            "GPT",
        )
        # One round: the ratio is that round's time over attnlab's.
        base = attnlab[r["row"]]["samples_ms"][0]
        assert r["ratio"] == pytest.approx(r["samples_ms"][0] / base)
    impls = {(r["row"].split(" (")[0], r["impl"]) for r in report["results"]}
    assert ("forward causal", "attnlab, not causal") in impls
    assert ("forward + weights", "attnlab, no weights") in impls
    assert ("GPT generate 8 tokens L4 C32 H2 B2 prompt 8", "attnlab, no cache") in impls
    # The small forward right after another library's call, and in single calls alternating
    # with it, beside its steady state.
    settings = ("right after", "in single calls alternating with")
    after = {(r["row"], r["impl"]) for r in report["results"] if r["row"].endswith(LIBRARIES)}
    libraries = ["numpy matmul"] + (["torch sdpa"] if report["info"]["torch"] else [])
    assert after == {
        (f"forward (8, 4, 128, 32) {setting} {lib}", impl)
        for setting in settings
        for lib in libraries
        for impl in ("attnlab", after_impl(lib))
    }
    denormals = {r["impl"] for r in report["results"] if r["row"].endswith("on denormals")}
    assert {"attnlab", NORMAL_INPUT} <= denormals
    assert ("torch" in denormals) == (report["info"]["torch"] is not None)
    adamw = {r["impl"] for r in report["results"] if r["row"].startswith("AdamW step")}
    assert adamw == ({"attnlab"} if report["info"]["torch"] is None else {"attnlab", "torch"})
    # --arch all: attnlab on every other arch in every kernel row, in the same rounds.
    others = [a for a in al.arch.available() if a != report["info"]["arch"]]
    kernel_rows = [
        name
        for name in rows
        if name.startswith(("forward", "linear", "layer_norm", "gelu", "cross_entropy"))
        and not name.endswith(LIBRARIES)
    ]
    assert len(kernel_rows) >= 11
    for name in kernel_rows:
        row_impls = {r["impl"] for r in report["results"] if r["row"] == name}
        assert {arch_impl(a) for a in others} <= row_impls, name
    assert report["memory"]["peak_mib"] is None or report["memory"]["peak_mib"] < 128
    solve = report["time_to_solve"]
    assert solve["steps"] == 20 and solve["seconds"] > 0 and 0 <= solve["accuracy"] <= 1
    assert al.get_num_threads() >= 1


def test_bench_arch_argument_is_checked(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--quick", "--arch", "no-such-arch"])
    assert "--arch: expected 'all' or one of" in capsys.readouterr().err


def test_quick_table_prints_every_row_and_summary(capsys):
    assert main(["bench", "--quick", "--rounds", "1", "--threads", "1"]) == 0
    table = capsys.readouterr().out
    for line in (
        "(peers: numpy ",
        "small GPT step",
        "AdamW step",
        "right after numpy matmul: attnlab's call takes",
        "in single calls alternating with numpy matmul: attnlab's call takes",
        "on denormals: attnlab takes",
        "causal speed-up (1, 4, 512, 64)",
        "time to solve reverse (length 16, vocab 10): ",
    ):
        assert line in table, line


def test_only_times_the_matching_rows_without_summaries(capsys, monkeypatch):
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "4")
    assert main(["bench", "--quick", "--json", "--rounds", "1", "--only", "^layer_norm"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {r["row"].split(" (")[0] for r in report["results"]} == {"layer_norm"}
    assert report["scaling"] is None and report["memory"] is None
    assert report["time_to_solve"] is None
    assert report["info"]["only"] == "^layer_norm"
    assert report["info"]["wait_settings"] == {"OPENBLAS_THREAD_TIMEOUT": "4"}
    assert main(["bench", "--quick", "--rounds", "1", "--only", "^gelu"]) == 0
    table = capsys.readouterr().out
    assert "(only the rows matching '^gelu')" in table
    assert "(the other libraries' idle threads: OPENBLAS_THREAD_TIMEOUT=4)" in table
    assert "gelu" in table and "time to solve" not in table and "scaling" not in table


def test_only_argument_is_checked(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--quick", "--only", "forward ("])
    assert "--only: not a regular expression (" in capsys.readouterr().err
    with pytest.raises(TypeError, match="only: expected a str or None, got int"):
        bench_run(quick=True, only=3)
