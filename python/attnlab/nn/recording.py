"""record_attention: every attention module's per-head weights, by module name, straight from
the fused kernel's weights output.

An attention module takes part by inheriting :class:`RecordsAttention`: before its kernel call
it asks ``self._recording()`` which recorders take this call (none when nothing records, so
that the kernel is not asked for weights at all), and hands them the kernel's weights, its
output Tensor and its values with ``self._record(takers, weights, out, value)``. A record
made with ``keep_outputs=True`` (what :func:`attnlab.interpret.saliency` uses) keeps the
output, marked to retain its gradient, and the values: the attention output is O = A V per
head, so after ``backward`` the gradient of the loss with respect to the weights A, which
the fused kernel never holds as a Tensor, is dL/dA = dL/dO V^T.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Iterator

import numpy as np

from attnlab._validation import flag, index
from attnlab.nn.module import Module
from attnlab.tensor import Tensor


class RecordsAttention:
    """Mixin of the modules whose attention :func:`record_attention` records."""

    _attention_recorders: tuple[AttentionRecord, ...] = ()

    def _recording(self) -> tuple[AttentionRecord, ...]:
        """The active recorders that take this call's weights (each counts the call)."""
        if not self._attention_recorders:
            return ()
        return tuple(r for r in self._attention_recorders if r._takes(self))

    def _record(self, takers: tuple[AttentionRecord, ...], weights: np.ndarray, out: Tensor,
                value: np.ndarray) -> None:
        """weights (B, H, Lq, Lk); out (B, H, Lq, Dv), the kernel's output A V before any
        dropout; value (B, Hkv, Lk, Dv), the values it weighed (extra keys included)."""
        for r in takers:
            r._put(self, weights, out, value)


class AttentionRecord(Mapping):
    """What :func:`record_attention` yields: module name -> the (B, H, Lq, Lk) weights of its
    last recorded call, in the model's module order (``named_modules``), holding the modules
    that recorded at least one call. ``history(name)`` lists every recorded call's weights.

    The arrays are the kernel's own outputs (float32 or float64, as the module), made for this
    call and never reused by attnlab.

    With ``keep_outputs=True``, ``outputs(name)`` also lists each recorded call's attention
    output Tensor (B, H, Lq, Dv), which retains its gradient, and values (B, Hkv, Lk, Dv).
    """

    def __init__(self, model: Module, every: int, *, keep_outputs: bool = False) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"model: expected an attnlab.nn.Module, got {type(model).__name__}")
        every = index(every, "every")
        if every < 1:
            raise ValueError(f"every: expected an int >= 1, got {every}")
        self.every = every
        self.keep_outputs = flag(keep_outputs, "keep_outputs")
        self._names = {id(m): name for name, m in model.named_modules()
                       if isinstance(m, RecordsAttention)}
        if not self._names:
            raise ValueError(f"model: {type(model).__name__} has no attention module to record")
        self._modules = [m for _, m in model.named_modules() if id(m) in self._names]
        self._calls = dict.fromkeys(self._names, 0)
        self._history: dict[str, list[np.ndarray]] = {}
        self._outputs: dict[str, list[tuple[Tensor, np.ndarray]]] = {}
        self._saved: list[tuple[RecordsAttention, tuple]] | None = None

    # ---- the modules' side ----------------------------------------------------------------
    def _takes(self, module: RecordsAttention) -> bool:
        """Counts the call; the 1st, (every + 1)-th, ... calls of each module are recorded."""
        key = id(module)
        calls = self._calls[key]
        self._calls[key] = calls + 1
        return calls % self.every == 0

    def _put(self, module: RecordsAttention, weights: np.ndarray, out: Tensor,
             value: np.ndarray) -> None:
        name = self._names[id(module)]
        self._history.setdefault(name, []).append(weights)
        if self.keep_outputs:
            if out.requires_grad:
                out.retain_grad()
            self._outputs.setdefault(name, []).append((out, value))

    # ---- the context ----------------------------------------------------------------------
    def __enter__(self) -> AttentionRecord:
        if self._saved is not None:
            raise RuntimeError("record_attention: this record is already active")
        self._saved = [(m, m._attention_recorders) for m in self._modules]
        for m, previous in self._saved:
            m._attention_recorders = previous + (self,)
        return self

    def __exit__(self, *exc: object) -> None:
        for m, previous in self._saved:
            m._attention_recorders = previous
        self._saved = None

    # ---- reading --------------------------------------------------------------------------
    def _ordered(self) -> list[str]:
        return [self._names[id(m)] for m in self._modules if self._names[id(m)] in self._history]

    def __getitem__(self, name: str) -> np.ndarray:
        return self._calls_of(name)[-1]

    def history(self, name: str) -> list[np.ndarray]:
        """The weights of every recorded call of module ``name``, oldest first."""
        return list(self._calls_of(name))

    def _calls_of(self, name: str) -> list[np.ndarray]:
        if name not in self._history:
            known = ", ".join(repr(n) for n in self._ordered()) or "none yet"
            raise KeyError(f"{name!r}: no attention recorded under this name (recorded: {known})")
        return self._history[name]

    def outputs(self, name: str) -> list[tuple[Tensor, np.ndarray]]:
        """(attention output Tensor (B, H, Lq, Dv), values (B, Hkv, Lk, Dv)) of every recorded
        call of module ``name``, oldest first; only for a record made with keep_outputs=True."""
        if not self.keep_outputs:
            raise RuntimeError("outputs: this record was made without keep_outputs=True")
        self._calls_of(name)
        return list(self._outputs[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._ordered())

    def __len__(self) -> int:
        return len(self._history)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n!r}: {self[n].shape}" for n in self)
        return f"AttentionRecord(every={self.every}, {{{shapes}}})"


def record_attention(model: Module, every: int = 1) -> AttentionRecord:
    """A context manager that records the per-head attention weights of every attention module
    of ``model`` (self and cross) while it is active::

        with al.record_attention(model) as rec:
            model(x)
        rec["encoder.layers.0.self_attn"]        # (B, H, Lq, Lk) of the last call
        rec.history("encoder.layers.0.self_attn")  # every recorded call

    Names are ``model.named_modules()``'s. With ``every=n``, each module's 1st, (n + 1)-th,
    (2n + 1)-th, ... calls are recorded; the other calls do not ask the kernel for weights.
    The weights come from the fused kernel (no slower path); with nothing recording, they are
    not computed at all. Records nest: every active record of a module gets its weights, and
    leaving one (also by an exception) restores the previous state.
    """
    return AttentionRecord(model, every)
