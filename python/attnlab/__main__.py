"""``python -m attnlab demo`` runs the main demo; ``python -m attnlab bench`` the benchmark."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnlab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="attention on a small built-in example, with timings")
    demo.add_argument("--no-timing", action="store_true", help="skip the fused-vs-NumPy timing")
    bench = commands.add_parser("bench", help="attnlab vs NumPy and PyTorch: time, GFLOP/s, "
                                "% of FMA peak, memory")
    bench.add_argument("--quick", action="store_true", help="CI-sized shapes, a few seconds")
    bench.add_argument("--json", action="store_true", help="machine-readable output")
    bench.add_argument("--threads", type=int, default=None,
                       help="thread count for every library (default: attnlab's)")
    bench.add_argument("--rounds", type=int, default=None,
                       help="interleaved timing rounds per row (default 7, --quick 3)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from attnlab._demo import run

        run(timing=not args.no_timing)
    elif args.command == "bench":
        from attnlab._bench import run as bench_run

        if args.threads is not None and not 1 <= args.threads <= 1024:
            parser.error("--threads: expected 1 to 1024")
        if args.rounds is not None and args.rounds < 1:
            parser.error("--rounds: expected at least 1")
        bench_run(quick=args.quick, as_json=args.json, threads=args.threads, rounds=args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
