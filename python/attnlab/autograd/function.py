"""Function: one differentiable operation, the node of the autograd graph (tinygrad's shape).

A subclass writes ``forward(ctx, *args, **options)`` on ndarrays and ``backward(ctx, grad)``
returning one gradient (an ndarray or None) per positional argument. ``ctx`` is the Function
instance itself: forward keeps on it what backward needs (``ctx.saved = ...``), and
``ctx.needs_input_grad[i]`` says whether argument i wants a gradient, so that backward can skip
work nobody asked for. A subclass whose backward returns arrays it allocated for that call
(never the incoming gradient, a saved array or a broadcast view) sets ``fresh_gradients``:
the engine then sums into them in place and hands them to leaves without a copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab.autograd.grad_mode import _state
from attnlab.tensor import Tensor


class Function:
    __slots__ = ("parents", "needs_input_grad", "saved", "released", "__dict__")
    fresh_gradients = False

    def forward(self, *args: Any, **options: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...] | np.ndarray | None:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **options: Any) -> Tensor:
        """Runs forward on the arguments' arrays; records the node when a Tensor argument
        requires grad and recording is on."""
        ctx = cls.__new__(cls)
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = _state.enabled and True in needs
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        ctx.needs_input_grad = needs
        ctx.released = False
        out = ctx.forward(*raw, **options)
        if type(out) is not np.ndarray:  # NumPy gives scalars for 0-d results
            out = np.asarray(out)
        result = Tensor._wrap(out, record)
        if record:
            ctx.parents = args
            result._ctx = ctx
        return result

    def release(self) -> None:
        """Drops what forward saved (after a backward without ``retain_graph``)."""
        self.released = True
        self.saved = None
        self.__dict__.clear()


def takes_tensors(*args: Any) -> bool:
    """True when any argument is a Tensor: a functional op then records itself."""
    for a in args:
        if isinstance(a, Tensor):
            return True
    return False
