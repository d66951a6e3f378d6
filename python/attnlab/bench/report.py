"""The benchmark's output: the table (with its summary lines) or JSON, and the machine it ran on."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict

from attnlab.bench.attention import NO_WEIGHTS, NON_CAUSAL
from attnlab.bench.denormals import NORMAL_INPUT
from attnlab.bench.generation import NO_CACHE
from attnlab.bench.timing import MIN_SAMPLE_S, Row


def blas_arch() -> str | None:
    """The kernels NumPy's BLAS runs (OpenBLAS: its core type, which OPENBLAS_CORETYPE sets)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return f"{pool.get('internal_api')} {pool.get('architecture')}"
    return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_name() -> str:
    """The machine and its CPU model, as the table's header gives them."""
    return f"{platform.machine()} {_cpu_name()}"


def write_json(
    info: dict, rows: list[Row], scaling: dict | None, memory: dict, solve: dict, out
) -> None:
    """The run as JSON: its info, the summaries and every implementation's result."""
    json.dump(
        dict(
            info=info,
            scaling=scaling,
            memory=memory,
            time_to_solve=solve,
            results=[asdict(r) for row in rows for r in row.results],
        ),
        out,
        indent=1,
    )
    out.write("\n")


def _peaks(info: dict) -> str:
    """The current arch's FMA peak, then each other arch's beside it when there are several."""
    others = [f"{a} {p}" for a, p in info.get("arch_peak_gflops", {}).items() if a != info["arch"]]
    return ", ".join([str(info["peak_gflops"]), *others])


def print_table(
    info: dict, rows: list[Row], scaling: dict | None, memory: dict, solve: dict, out
) -> None:
    out.write(
        f"attnlab bench  {info['date']}  {info['machine']}  arch={info['arch']}  "
        f"threads={info['threads']}  peak={_peaks(info)} GFLOP/s  "
        f"median of {info['rounds']} interleaved rounds (each: a warm-up call, then >= "
        f"{MIN_SAMPLE_S * 1e3:.0f} ms of back-to-back calls)\n"
    )
    if info.get("only") is not None:
        out.write(f"(only the rows matching {info['only']!r})\n")
    if info.get("wait_settings"):
        settings = " ".join(f"{k}={v}" for k, v in info["wait_settings"].items())
        out.write(f"(the other libraries' idle threads: {settings})\n")
    if info["load_average"] is not None:
        out.write(
            f"(1-minute load average before the run: {info['load_average']}; other "
            "processes on these cores make every time noisier)\n"
        )
    out.write(
        f"(peers: numpy {info['numpy']} with {info['numpy_blas']}, torch {info['torch']} "
        f"with {info['torch_cpu']} kernels)\n"
    )
    if not info["numpy_threads_limited"]:
        out.write("(threadpoolctl not installed: NumPy's BLAS threads are not limited)\n")
    header = (
        f"{'operation':44} {'impl':19} {'ms':>9} {'GFLOP/s':>8} {'% peak':>7} "
        f"{'vs attnlab':>10} {'peak MiB':>9}"
    )
    out.write(f"(a cold call row times single calls, each after {info['cold_idle_s']:g} s idle)\n")
    out.write(header + "\n" + "-" * len(header) + "\n")
    for row in rows:
        for r in row.results:
            mem = "-" if r.peak_mib is None else f"{r.peak_mib:.0f}"
            ratio = "" if r.impl == "attnlab" else f"{r.ratio:.2f}x"
            rate = f"{r.gflops:8.1f} {r.percent_peak:6.1f}%" if row.flops else f"{'-':>8} {'-':>7}"
            out.write(
                f"{row.name if r.impl == 'attnlab' else '':44} {r.impl:19} "
                f"{r.median_ms:9.2f} {rate} {ratio:>10} {mem:>9}\n"
            )
        if row.target:
            out.write(f"{'':44} target: {row.target}\n")
    for row in rows:  # ratios of attnlab's variants, per round as in the table
        ratios = {r.impl: r.ratio for r in row.results}
        shape = row.name[row.name.find("(") :]
        if NON_CAUSAL in ratios:
            out.write(
                f"causal speed-up {shape}: {ratios[NON_CAUSAL]:.2f}x faster than "
                "non-causal (target >= 1.8x)\n"
            )
        for impl in row.before:
            out.write(
                f"{row.name}: attnlab's call takes {ratios[impl]:.2f}x its steady-state "
                "time (target <= 1.3x)\n"
            )
        if NORMAL_INPUT in ratios:
            out.write(
                f"{row.name}: attnlab takes {1 / ratios[NORMAL_INPUT]:.2f}x its time on a "
                "normal input (target <= 1.3x)\n"
            )
        if NO_CACHE in ratios:
            out.write(
                f"{row.name}: the key/value cache is {ratios[NO_CACHE]:.2f}x faster than "
                "the whole context a step (target >= 5x)\n"
            )
        if NO_WEIGHTS in ratios:
            out.write(
                f"weights cost {shape}: the forward with weights takes "
                f"{1 / ratios[NO_WEIGHTS]:.2f}x the forward without (target <= 1.3x)\n"
            )
    if scaling:
        out.write(
            f"scaling {tuple(scaling['shape'])}: 1 thread {scaling['one_thread_ms']:.1f} ms, "
            f"{info['threads']} threads {scaling['threads_ms']:.1f} ms, "
            f"speed-up {scaling['speedup']:.2f}x (target >= 1.8x)\n"
        )
    if memory is not None and memory["peak_mib"] is not None:
        out.write(
            f"memory: forward + backward {tuple(memory['shape'])} grows peak RSS by "
            f"{memory['peak_mib']:.1f} MiB (target < 128 MiB; scores alone would be "
            f"{memory['scores_mib']:.0f} MiB)\n"
        )
    if solve is not None:
        out.write(
            f"time to solve {solve['task']}: {100 * solve['accuracy']:.1f}% test token "
            f"accuracy after {solve['steps']} steps in {solve['seconds']:.1f} s "
            f"({solve['recipe']}; target >= 99% in <= 30 s)\n"
        )
    out.write(
        "vs attnlab = median over rounds of that implementation's time / attnlab's in the "
        "same round: above 1, attnlab is faster.\n"
    )
