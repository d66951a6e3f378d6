"""Whether operations on Tensors are recorded for backward: a per-thread switch, as in PyTorch."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

_F = TypeVar("_F", bound=Callable)


class _State(threading.local):
    enabled = True


_state = _State()


def is_grad_enabled() -> bool:
    """True when operations on Tensors that require grad are recorded (the default)."""
    return _state.enabled


class set_grad_enabled:
    """Turns recording on or off; a context manager (restores the previous mode on exit) or a
    plain call (``al.autograd.set_grad_enabled(False)``)."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"mode: expected a bool, got {type(mode).__name__}")
        self._previous = _state.enabled
        _state.enabled = mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._previous


class _Mode:
    """Base of no_grad / enable_grad: a context manager and a function decorator."""

    _enabled: bool

    def __enter__(self) -> None:
        self._previous = _state.enabled
        _state.enabled = self._enabled

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._previous

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_Mode):
    """Nothing inside is recorded (evaluation, optimizer updates); results need no grad."""

    _enabled = False


class enable_grad(_Mode):
    """Recording on inside, even within ``no_grad``."""

    _enabled = True
