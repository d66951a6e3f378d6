"""attnlab's global seed: where dropout draws its seed when none is given."""

from __future__ import annotations

import numpy as np

from attnlab._validation import index

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed every random choice attnlab makes (dropout seeds, initializers) for reproducibility."""
    global _generator
    seed = index(seed, "seed")
    if seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed}")
    _generator = np.random.default_rng(seed)


def next_seed() -> int:
    """A fresh 63-bit seed from the global generator."""
    return int(_generator.integers(0, 2**63))


def generator() -> np.random.Generator:
    """The global generator itself, for initializers."""
    return _generator


def check_seed(seed: object, name: str = "seed") -> int:
    """``seed`` as an int in [0, 2**64)."""
    seed = index(seed, name)
    if not 0 <= seed < 2**64:
        raise ValueError(f"{name}: expected an int in [0, 2**64), got {seed}")
    return seed
