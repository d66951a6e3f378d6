"""What the atheris targets in fuzz/ share: attnlab imported with libFuzzer's coverage hooks,
and the fuzzing loop. A target imports attnlab from here (``from harness import attnlab,
fuzz``), defines ``test_one_input(data: bytes)`` and ends with ``fuzz(test_one_input)``;
``./scripts/run.sh fuzz`` runs each as ``python fuzz/fuzz_<name>.py``, so that this folder is
on sys.path.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris

# Every attnlab module imported here is instrumented: the package imports all of its own
# (functional, nn, checkpoint...) on import.
with atheris.instrument_imports(include=["attnlab"]):
    import attnlab

__all__ = ["attnlab", "fuzz"]


def fuzz(test_one_input: Callable[[bytes], None]) -> None:
    """Runs libFuzzer on ``test_one_input`` with the command line's options (after the file:
    ``-max_total_time=``, ``-runs=``, a corpus folder...), until it stops or finds a fault."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
