"""scripts/bench_summary.py: several benchmark runs as one table of medians and ranges."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_summary.py"


def load_script():
    spec = importlib.util.spec_from_file_location("bench_summary", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(attnlab_ms, torch_ratio, peak=None):
    return {
        "results": [
            {"row": "forward", "impl": "attnlab", "median_ms": attnlab_ms, "percent_peak": peak},
            {"row": "forward", "impl": "torch sdpa", "median_ms": 0.0, "ratio": torch_ratio},
            {"row": "step", "impl": "attnlab", "median_ms": 2 * attnlab_ms, "percent_peak": None},
            {"row": "step", "impl": "torch", "median_ms": 0.0, "ratio": 2 * torch_ratio},
        ]
    }


def test_each_peer_gets_the_median_and_range_of_its_per_run_ratios():
    table = load_script().summarise(
        [run(10.0, 1.5, 70.0), run(30.0, 2.5, 80.0), run(20.0, 1.0, 60.0)]
    )
    lines = table.splitlines()
    assert lines[2] == "| forward | 20.00 | 70.0% | torch sdpa | 1.50x [1.00-2.50] |"
    assert lines[3] == "| step | 40.00 | - | torch | 3.00x [2.00-5.00] |"
    assert len(lines) == 4


def info(date, load, **settings):
    return {
        "info": dict(
            date=date,
            load_average=load,
            machine="x86_64 CPU",
            arch="avx2",
            threads=2,
            rounds=7,
            torch="2.13.0",
            torch_cpu="AVX2",
            numpy="2.4",
            numpy_blas="openblas Haswell",
            **({"wait_settings": settings} if settings else {}),
        )
    }


def test_header_gives_the_span_the_machine_and_the_wait_settings():
    script = load_script()
    runs = [info("2026-12-07 22:40 UTC", 1.5), info("2026-12-07 22:30 UTC", 0.5)]
    assert script.header(runs) == (
        "2 runs, 2026-12-07 22:30 UTC to 2026-12-07 22:40 UTC: x86_64 CPU, arch avx2, 2 threads, "
        "7 rounds a row, torch 2.13.0 (AVX2), NumPy 2.4 (openblas Haswell); 1-minute load "
        "average 0.50-1.50"
    )
    passive = [info("2026-12-07 22:30 UTC", 0.5, OMP_WAIT_POLICY="PASSIVE")]
    assert ", NumPy 2.4 (openblas Haswell), OMP_WAIT_POLICY=PASSIVE; 1-minute" in (
        script.header(passive)
    )
