"""``python -m attnlab demo`` runs the main demo; ``python -m attnlab bench`` the benchmark."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnlab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train a small transformer on a synthetic task and "
        "draw every attention head it learned",
    )
    demo.add_argument("--task", choices=["reverse", "sort", "copy", "induction"], default="reverse")
    demo.add_argument(
        "--steps", type=int, default=None, help="training steps (default: the task's recipe)"
    )
    demo.add_argument(
        "--out", default="attnlab-demo", help="where the pictures go (default ./attnlab-demo)"
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench = commands.add_parser(
        "bench", help="attnlab vs NumPy and PyTorch: time, GFLOP/s, %% of FMA peak, memory"
    )
    bench.add_argument("--quick", action="store_true", help="CI-sized shapes, a few seconds")
    bench.add_argument("--json", action="store_true", help="machine-readable output")
    bench.add_argument(
        "--threads",
        type=int,
        default=None,
        help="thread count for every library (default: attnlab's)",
    )
    bench.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleaved timing rounds per row (default 7, --quick 3)",
    )
    bench.add_argument(
        "--arch",
        default=None,
        help="run attnlab on this arch (one of attnlab.arch.available()), or "
        "'all': a row per available arch beside the default one",
    )
    bench.add_argument(
        "--only",
        default=None,
        metavar="PATTERN",
        help="time only the rows whose name matches this regular expression (no summaries)",
    )
    args = parser.parse_args(argv)

    if args.command == "demo":
        from attnlab._demo import pyplot, run

        if args.steps is not None and args.steps < 1:
            parser.error("--steps: expected at least 1")
        if args.seed < 0:
            parser.error("--seed: expected a non-negative int")
        try:
            pyplot()
        except ImportError as error:
            demo.exit(1, f"{demo.prog}: {error}\n")
        run(
            task=args.task,
            steps=args.steps,
            out=args.out,
            seed=args.seed,
            progress=not args.no_progress,
        )
    elif args.command == "bench":
        from attnlab.bench import check_only
        from attnlab.bench import run as bench_run

        if args.threads is not None and not 1 <= args.threads <= 1024:
            parser.error("--threads: expected 1 to 1024")
        if args.rounds is not None and args.rounds < 1:
            parser.error("--rounds: expected at least 1")
        if args.arch is not None:
            import attnlab as al

            if args.arch != "all" and args.arch not in al.arch.available():
                parser.error(
                    f"--arch: expected 'all' or one of {al.arch.available()}, got {args.arch!r}"
                )
        try:
            check_only(args.only)
        except ValueError as error:
            parser.error(f"--{error}")
        bench_run(
            quick=args.quick,
            as_json=args.json,
            threads=args.threads,
            rounds=args.rounds,
            arch=args.arch,
            only=args.only,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
