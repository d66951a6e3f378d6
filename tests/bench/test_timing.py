"""attnlab.bench.timing: interleaved samples, per-round ratios, cold calls, arch variants."""

import time

import pytest

import attnlab as al
from attnlab.bench import timing
from attnlab.bench.timing import Row, add_arches, arch_impl, peak_growth_mib, sample, summarize


def test_ratio_is_the_median_of_per_round_ratios():
    """A slow round slows both implementations in it; pairing by round cancels it, where the
    ratio of the medians (3 / 2 here) would not."""
    row = Row("op", 1e9, {"attnlab": lambda: None, "torch": lambda: None})
    summarize(row, {"attnlab": [1.0, 2.0, 3.0], "torch": [3.0, 2.2, 3.3]}, peak=100.0)
    ours, theirs = row.results
    assert ours.ratio == 1.0 and ours.median_ms == 2000.0
    assert theirs.ratio == pytest.approx(1.1) and theirs.samples_ms == [3000.0, 2200.0, 3300.0]
    # the row's flops over the median time, against the given peak
    assert ours.gflops == pytest.approx(0.5) and ours.percent_peak == pytest.approx(0.5)


def test_forced_arch_is_measured_against_its_own_peak():
    row = Row("op", 1e9, {"attnlab": lambda: None, arch_impl("avx2"): lambda: None})
    summarize(row, {"attnlab": [1.0], arch_impl("avx2"): [2.0]}, 100.0, {"avx2": 25.0})
    ours, avx2 = row.results
    assert ours.percent_peak == pytest.approx(1.0)  # 1 GFLOP/s of 100
    assert avx2.percent_peak == pytest.approx(2.0)  # 0.5 GFLOP/s of avx2's 25


def test_arch_peaks_measures_each_arch_on_it(monkeypatch):
    monkeypatch.setattr(al.arch, "peak_gflops", lambda threads: f"{al.arch.current()} x{threads}")
    arches = al.arch.available()
    assert timing.arch_peaks(arches, 2) == {a: f"{a} x2" for a in arches}


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
    events = []
    monkeypatch.setattr(timing.time, "sleep", lambda s: events.append(("sleep", s)))
    row = Row("op cold call", 1e9, {"attnlab": lambda: events.append("call")}, cold=True)
    times = timing.time_row(row, 2, cold_idle_s=0.5)
    assert events == [("sleep", 0.5), "call", ("sleep", 0.5), "call"]
    assert len(times["attnlab"]) == 2 and all(t >= 0 for t in times["attnlab"])


def test_sample_leaves_the_call_before_untimed():
    calls = []
    seconds = sample(
        lambda: calls.append("fn"), 3, before=lambda: (calls.append("before"), time.sleep(0.05))
    )
    assert seconds < 0.02
    # One warm-up call, then each timed call right after the other library's.
    assert calls == ["fn"] + ["before", "fn"] * 3


def test_peak_growth_counts_what_the_call_allocates():
    """The growth is of the whole process's RSS: memory that the kernel or another thread
    frees during the call hides as much of the call's own. The best of three calls counts it."""
    growths = [peak_growth_mib(lambda: bytearray(64 * 2**20)) for _ in range(3)]
    if None in growths:  # no /proc/self/clear_refs (not Linux)
        pytest.skip("peak RSS cannot be reset on this system")
    assert 60 <= max(growths) <= 200, growths


def test_single_calls_alternate_and_each_is_timed(monkeypatch):
    """A single-calls sample: no warm-up call, each call after the other library's, and the
    median of the calls' own times (not the mean: one slow call does not move it)."""
    calls, clock = [], iter([0.0, 1.0, 10.0, 12.0, 20.0, 21.0])
    monkeypatch.setattr(timing, "_settle", lambda: calls.append("settle"))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    seconds = timing.single_calls_sample(
        lambda: calls.append("fn"), 3, before=lambda: calls.append("before")
    )
    assert calls == ["settle"] + ["before", "fn"] * 3
    assert seconds == 1.0  # the calls took 1, 2 and 1 s


def test_single_calls_row_is_sampled_in_single_calls(monkeypatch):
    samplers = []
    monkeypatch.setattr(timing, "sample", lambda *a: samplers.append("sample") or 1.0)
    monkeypatch.setattr(timing, "single_calls_sample", lambda *a: samplers.append("single") or 2.0)
    row = Row("op", 1e9, {"attnlab": lambda: None, "peer": lambda: None}, single_calls=True)
    assert timing.time_row(row, 2) == {"attnlab": [2.0, 2.0], "peer": [2.0, 2.0]}
    assert samplers == ["single"] * 4
