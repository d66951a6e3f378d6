"""Load times of the HTML views at 64, 512 and 4096 tokens: the Python side (building the View:
validation, top-k or pooling, packing) and the page in headless Chromium (first contentful
paint, and the time until the view's script has drawn).

    python scripts/view_load_times.py [--heads 12] [--repeat 5] [--chromium /usr/bin/chromium]

Each figure is the best of --repeat runs; the weights are softmax rows of random scores
(one layer of --heads heads), the tokens "t0", "t1", ... Needs playwright for the page times.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import attnlab as al

LENGTHS = (64, 512, 4096)


def weights(heads: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = 4 * rng.standard_normal((heads, length, length), dtype=np.float32)
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


def views(w: np.ndarray, tokens: list[str]) -> dict:
    return {
        "head_view": lambda: al.viz.head_view(w, tokens),
        "model_view": lambda: al.viz.model_view(w, tokens),
        "timeline": lambda: al.viz.timeline([(0, w), (100, w)], tokens),
    }


def best_of(repeat: int, function) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of every thread, result), each time the best of repeat: on
    a loaded machine the CPU time says what the build costs, the wall time what a user waits."""
    wall = cpu = float("inf")
    result = None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, result


def page_times(browser, path: Path, repeat: int) -> tuple[float, float]:
    """(first contentful paint, the view drawn), seconds from navigation start, best of repeat."""
    paint = drawn = float("inf")
    for _ in range(repeat):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(path.as_uri(), wait_until="load", timeout=120_000)
        page.wait_for_function(
            "() => performance.getEntriesByName('first-contentful-paint').length", timeout=120_000
        )
        times = page.evaluate("""() => [
          performance.getEntriesByName('first-contentful-paint')[0].startTime,
          Number(document.querySelector('.attnlab-view').dataset.drawnAt)]""")
        page.close()
        paint, drawn = min(paint, times[0] / 1000), min(drawn, times[1] / 1000)
    return paint, drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for length in LENGTHS:
            w = weights(args.heads, length)
            for name, make in views(w, [f"t{i}" for i in range(length)]).items():
                seconds, cpu, view = best_of(args.repeat, make)
                path = view.save(Path(folder) / f"{name}_{length}.html")
                rows.append([name, length, seconds, cpu, path])
            del w
        if Path(args.chromium).exists():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=args.chromium, args=["--no-sandbox"]
                )
                for row in rows:
                    row[4:] = page_times(browser, row[4], args.repeat)
                browser.close()
        else:
            for row in rows:
                row[4:] = [float("nan"), float("nan")]
    load = os.getloadavg()[0]
    print(
        f"attnlab {al.__version__}, {args.heads} heads, best of {args.repeat}, "
        f"{os.cpu_count()} CPUs, 1-minute load average {load:.1f}"
    )
    print("| view | tokens | Python build (s) | its CPU (s) | first paint (s) | drawn (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, length, build, cpu, paint, drawn in rows:
        print(f"| {name} | {length} | {build:.3f} | {cpu:.3f} | {paint:.3f} | {drawn:.3f} |")


if __name__ == "__main__":
    main()
