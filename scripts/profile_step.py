"""Profile and time one GPT training step (forward, cross-entropy, backward, AdamW), the
benchmark's "small" and "medium" rows (attnlab/bench/training.py's training_rows builds both),
attnlab against the same model in torch.

    python scripts/profile_step.py ratio  [--size small|medium] [--threads 2] [--rounds 15]
        interleaved rounds (attnlab, torch, attnlab, ...): medians and the median ratio
    python scripts/profile_step.py cprofile [--size small] [--steps 50]
        the Python side's cProfile, sorted by total time
    valgrind --tool=callgrind --callgrind-out-file=cg.out \\
        python scripts/profile_step.py steps --steps 5 [--threads 1]
        a fixed number of attnlab steps after one warm-up, for instruction counts: the cost
        of a step is (Ir of --steps N+k - Ir of --steps N) / k, the rest being set-up;
        callgrind_annotate --inclusive=yes cg.out gives it per function (valgrind knows no
        AVX-512: there the avx2 kernels run)

Run from the repository root with PYTHONPATH=python so that the tree's attnlab is used.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time

import attnlab as al


def step_functions(size: str, torch=None) -> dict:
    """The benchmark's own step of that size: {"attnlab": step} (and "torch" with torch)."""
    from attnlab.bench.training import training_rows  # builds both models and their steps

    rows = training_rows(False, torch)
    return next(row.impls for row in rows if row.name.startswith(size))


def _seconds(fn, repeats: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def ratio(size: str, threads: int, rounds: int) -> None:
    import os

    import torch

    al.set_num_threads(threads)
    torch.set_num_threads(threads)
    impls = step_functions(size, torch)
    repeats = {}
    for name, fn in impls.items():
        fn()
        repeats[name] = max(1, int(0.2 / _seconds(fn, 1)))
    times = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            fn()
            times[name].append(_seconds(fn, repeats[name]))
    load = os.getloadavg()[0]
    ratios = [t / a for t, a in zip(times["torch"], times["attnlab"])]
    print(
        f"{size} threads={threads} rounds={rounds} load={load:.2f} "
        + " ".join(f"{n}={statistics.median(t) * 1e3:.2f}ms" for n, t in times.items())
        + f" torch/attnlab median={statistics.median(ratios):.3f}"
        + f" range=[{min(ratios):.3f}, {max(ratios):.3f}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["ratio", "cprofile", "steps"])
    parser.add_argument("--size", choices=["small", "medium"], default="small")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    if args.mode == "ratio":
        ratio(args.size, args.threads, args.rounds)
        return
    al.set_num_threads(args.threads)
    step = step_functions(args.size)["attnlab"]
    step()
    if args.mode == "steps":
        for _ in range(args.steps):
            step()
        return
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.steps):
        step()
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
