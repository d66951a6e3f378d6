"""``python -m attnlab demo`` runs the main demo."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnlab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="attention on a small built-in example, with timings")
    demo.add_argument("--no-timing", action="store_true", help="skip the fused-vs-NumPy timing")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from attnlab._demo import run

        run(timing=not args.no_timing)
    return 0


if __name__ == "__main__":
    sys.exit(main())
