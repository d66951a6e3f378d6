"""Several runs of the benchmark summarised as one Markdown table: for each row, attnlab's median
time over the runs and, for each peer, the median and range of its per-run ratio to attnlab
("x" above 1: attnlab is faster).

    python -m attnlab bench --json > run1.json   # ... as many runs as wanted
    python scripts/bench_summary.py run1.json run2.json ...

Each run's own ratio (its peer's median time over attnlab's, from the same interleaved rounds)
is the figure summarised, not a ratio of medians taken across runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def summarise(runs: list[dict]) -> str:
    """The Markdown table of ``runs`` (each a ``bench --json`` document), rows in run order."""
    times: dict[str, list[float]] = defaultdict(list)
    peaks: dict[str, list[float]] = defaultdict(list)
    ratios: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for result in run["results"]:
            row, impl = result["row"], result["impl"]
            if impl == "attnlab":
                times[row].append(result["median_ms"])
                if result.get("percent_peak"):
                    peaks[row].append(result["percent_peak"])
            else:
                ratios[row][impl].append(result["ratio"])
    lines = [
        "| row | attnlab (median ms) | % peak | peer | peer / attnlab: median [range] |",
        "|---|---|---|---|---|",
    ]
    for row, row_times in times.items():
        peak = f"{statistics.median(peaks[row]):.1f}%" if peaks[row] else "-"
        for impl, values in ratios[row].items():
            spread = f"{statistics.median(values):.2f}x [{min(values):.2f}-{max(values):.2f}]"
            lines.append(
                f"| {row} | {statistics.median(row_times):.2f} | {peak} | {impl} | {spread} |"
            )
    return "\n".join(lines)


def header(runs: list[dict]) -> str:
    """One line on ``runs``: how many, when, on what, with which peers and settings (those of
    the first run)."""
    infos = [run["info"] for run in runs]
    dates = sorted(info["date"] for info in infos)
    loads = [info["load_average"] for info in infos]
    first = infos[0]
    settings = " ".join(f"{k}={v}" for k, v in first.get("wait_settings", {}).items())
    return (
        f"{len(runs)} runs, {dates[0]} to {dates[-1]}: {first['machine']}, arch {first['arch']}, "
        f"{first['threads']} threads, {first['rounds']} rounds a row, torch {first['torch']} "
        f"({first['torch_cpu']}), NumPy {first['numpy']} ({first['numpy_blas']})"
        + (f", {settings}" if settings else "")
        + f"; 1-minute load average {min(loads):.2f}-{max(loads):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="files written by bench --json")
    args = parser.parse_args()
    runs = [json.loads(path.read_text()) for path in args.runs]
    print(header(runs) + "\n")
    print(summarise(runs))


if __name__ == "__main__":
    main()
