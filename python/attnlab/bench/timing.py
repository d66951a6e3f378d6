"""How a row is timed: rounds interleaved over its implementations, each sample a steady-state
average, a cold call or a run of single calls; peak memory; attnlab forced to other arches."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

import attnlab as al


@dataclass
class Result:
    row: str
    impl: str
    median_ms: float
    gflops: float
    percent_peak: float
    # Median over rounds of this implementation's time / attnlab's in the same round (> 1:
    # attnlab is faster): a burst of load that slows one round cancels out of its ratio.
    ratio: float
    peak_mib: float | None = None
    samples_ms: list = field(default_factory=list)  # one per round, in order


@dataclass
class Row:
    name: str
    flops: float
    impls: dict  # name -> zero-argument callable
    target: str = ""
    results: list = field(default_factory=list)
    # Flops of an implementation that does other work than the row's (attnlab's own
    # reference variants: the non-causal forward in the causal row).
    impl_flops: dict = field(default_factory=dict)
    # Each sample is one call after COLD_IDLE_S of idle instead of a steady-state average.
    cold: bool = False
    # name -> another library's call made, untimed, right before each timed call of that
    # implementation: its threads still spin on the cores when attnlab's call starts.
    before: dict = field(default_factory=dict)
    # Each sample is the median of single calls, each timed on its own with no warm-up call,
    # as a notebook comparing two libraries makes them, instead of a back-to-back average.
    single_calls: bool = False


# ------------------------------------------------------------------------------------------
# peak memory


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_growth_mib(fn) -> float | None:
    """Peak RSS growth over one call of ``fn`` in MiB, or None where it cannot be measured."""
    if not _reset_peak_rss():
        return None
    before = _status_kib("VmRSS")
    fn()
    peak = _status_kib("VmHWM")
    if before is None or peak is None:
        return None
    return max(0, peak - before) / 1024


# ------------------------------------------------------------------------------------------
# samples


def _settle() -> None:
    """Lets the previous library's idle worker threads stop spinning (OpenBLAS and OpenMP
    busy-wait for tens of ms after a call), so that they do not steal the next one's cores."""
    time.sleep(0.15)


# A sample lasts at least this long: a call of a few ms is timed over back-to-back repeats, as
# a training loop runs it, rather than once just after the settling pause: after that pause a
# virtual CPU needs a while to regain full speed, and shorter samples read slow.
MIN_SAMPLE_S = 0.1


def _repeats(fn) -> int:
    """How many back-to-back calls of ``fn`` fill MIN_SAMPLE_S (one warm-up call timed)."""
    t0 = time.perf_counter()
    fn()
    return max(1, math.ceil(MIN_SAMPLE_S / max(time.perf_counter() - t0, 1e-9)))


def sample(fn, repeats: int = 1, before=None) -> float:
    """Seconds per call of ``fn`` over ``repeats`` back-to-back calls. After the settling pause,
    one untimed call wakes the implementation's own worker threads (a virtual CPU idle for the
    whole pause can take milliseconds to wake), so that each is timed in the steady state of a
    training loop. With ``before``, each timed call follows an untimed call of it."""
    _settle()
    fn()
    if before is None:
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - t0) / repeats
    total = 0.0
    for _ in range(repeats):
        before()
        t0 = time.perf_counter()
        fn()
        total += time.perf_counter() - t0
    return total / repeats


def single_calls_sample(fn, calls: int, before=None) -> float:
    """The median seconds of ``calls`` single calls of ``fn``, each timed on its own, after the
    settling pause and with no warm-up call; with ``before``, each follows an untimed call of
    it, so that the two alternate as a notebook or a model mixing two libraries calls them."""
    _settle()
    seconds = []
    for _ in range(calls):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds)


# A cold call follows this much idle: every worker thread (ours, OpenMP's, OpenBLAS's) asleep.
COLD_IDLE_S = 1.0


def _cold_sample(fn, idle_s: float) -> float:
    """Seconds of one call of ``fn`` after ``idle_s`` of idle, with no warm-up call."""
    time.sleep(idle_s)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def time_row(
    row: Row, rounds: int, prepare=lambda name: None, cold_idle_s: float = COLD_IDLE_S
) -> dict:
    """Per implementation, the time of one call in each round; ``prepare(name)`` runs before
    each of that implementation's samples, untimed."""
    repeats = {}
    for name, fn in row.impls.items():
        prepare(name)
        repeats[name] = 1 if row.cold else _repeats(fn)
    times = {name: [] for name in row.impls}
    for _ in range(rounds):
        for name, fn in row.impls.items():
            prepare(name)
            before = row.before.get(name)
            if row.cold:
                seconds = _cold_sample(fn, cold_idle_s)
            elif row.single_calls:
                seconds = single_calls_sample(fn, repeats[name], before)
            else:
                seconds = sample(fn, repeats[name], before)
            times[name].append(seconds)
    return times


def summarize(
    row: Row, times: dict, peak: float, arch_peaks: dict[str, float] | None = None
) -> None:
    """Fills ``row.results`` from ``times`` (seconds per round, per implementation). "% peak"
    is of the FMA ``peak`` in GFLOP/s (the current arch's), or for attnlab forced to another
    arch (:func:`arch_impl`) of that arch's in ``arch_peaks``."""
    base = times["attnlab"]
    forced = {arch_impl(arch): p for arch, p in (arch_peaks or {}).items()}
    for name, ts in times.items():
        med = statistics.median(ts)
        gf = row.impl_flops.get(name, row.flops) / med * 1e-9
        ratio = statistics.median(t / b for t, b in zip(ts, base))
        row.results.append(
            Result(
                row.name,
                name,
                med * 1e3,
                gf,
                100 * gf / forced.get(name, peak),
                ratio,
                peak_growth_mib(row.impls[name]),
                [t * 1e3 for t in ts],
            )
        )


# ------------------------------------------------------------------------------------------
# arches


def arch_impl(arch: str) -> str:
    """The name of attnlab's implementation forced to ``arch`` in a row of several arches."""
    return f"attnlab [{arch}]"


def arch_peaks(arches: list[str], threads: int) -> dict[str, float]:
    """Each arch's FMA peak in GFLOP/s on ``threads`` threads, measured on it."""
    peaks = {}
    for arch in arches:
        with al.arch.force(arch):
            peaks[arch] = al.arch.peak_gflops(threads)
    return peaks


def _on_arch(fn, arch: str):
    def call():
        with al.arch.force(arch):
            return fn()

    return call


def add_arches(rows: list[Row], arches: list[str]) -> None:
    """Adds to every row attnlab forced to each arch of ``arches`` but the default one, so that
    one run shows the ratio between them (the default arch is the row's "attnlab")."""
    others = [a for a in arches if a != al.arch.current()]
    for row in rows:
        for arch in others:
            row.impls[arch_impl(arch)] = _on_arch(row.impls["attnlab"], arch)
            if "attnlab" in row.impl_flops:
                row.impl_flops[arch_impl(arch)] = row.impl_flops["attnlab"]
