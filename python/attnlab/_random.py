"""attnlab's global generator: where dropout, initializers and shuffles draw their seeds when
none is given; its state can be saved and restored (get_rng_state / set_rng_state)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

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


def get_rng_state() -> dict[str, Any]:
    """A copy of the global generator's state, which :func:`set_rng_state` takes back (as
    ``torch.get_rng_state``): NumPy's PCG64 state dict, whose ints are plain JSON. Every
    dropout mask, initializer and shuffle that gets no seed of its own follows from it."""
    return copy.deepcopy(_generator.bit_generator.state)


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Puts the global generator back in ``state`` (from :func:`get_rng_state`): what it draws
    next is what it drew after that call. TypeError/ValueError naming the field that is not a
    PCG64 state."""
    _generator.bit_generator.state = check_state(state, "state")


_FIELDS = {"bit_generator", "state", "has_uint32", "uinteger"}


def check_state(state: object, name: str) -> dict[str, Any]:
    """``state`` as a PCG64 state dict of plain ints, each field checked (NumPy's PCG64 takes
    any ints and would then draw from a state no generator reaches)."""
    if not isinstance(state, Mapping):
        raise TypeError(f"{name}: expected a dict from get_rng_state, got {type(state).__name__}")
    if set(state) != _FIELDS:
        raise ValueError(f"{name}: expected the fields {sorted(_FIELDS)}, got {sorted(state)}")
    if not isinstance(state["bit_generator"], str) or state["bit_generator"] != "PCG64":
        raise ValueError(f"{name}: bit_generator {state['bit_generator']!r} is not 'PCG64'")
    inner = state["state"]
    if not isinstance(inner, Mapping) or set(inner) != {"state", "inc"}:
        raise ValueError(f"{name}['state']: expected a dict of 'state' and 'inc'")
    inc = _int_below(inner["inc"], f"{name}['state']['inc']", 2**128)
    if inc % 2 == 0:
        raise ValueError(f"{name}['state']['inc']: a PCG64 increment is odd, got {inc}")
    return {
        "bit_generator": "PCG64",
        "state": {
            "state": _int_below(inner["state"], f"{name}['state']['state']", 2**128),
            "inc": inc,
        },
        "has_uint32": _int_below(state["has_uint32"], f"{name}['has_uint32']", 2),
        "uinteger": _int_below(state["uinteger"], f"{name}['uinteger']", 2**32),
    }


def _int_below(x: object, name: str, bound: int) -> int:
    value = index(x, name)
    if not 0 <= value < bound:
        raise ValueError(f"{name}: expected an int in [0, {bound:#x}), got {value}")
    return value


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
