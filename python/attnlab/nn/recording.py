"""record_attention: every attention module's per-head weights, by module name, straight from
the fused kernel's weights output.

An attention module takes part by inheriting :class:`RecordsAttention`: before its kernel call
it asks ``self._recording()`` which recorders take this call (none when nothing records, so
that the kernel is not asked for weights at all), and hands them the kernel's weights, its
output Tensor, its values, queries and keys with ``self._record(takers, weights, out, value,
query, key)``. A record made with ``keep_outputs=True`` (what
:func:`attnlab.interpret.saliency` uses) keeps the output, marked to retain its gradient,
and the values: the attention output is O = A V per head, so after ``backward`` the gradient
of the loss with respect to the weights A, which the fused kernel never holds as a Tensor,
is dL/dA = dL/dO V^T. A record made with ``qk=True`` (what :func:`attnlab.viz.neuron_view`
reads) copies the queries and keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from attnlab._validation import at_least, flag, index
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

    def _record(
        self,
        takers: tuple[AttentionRecord, ...],
        weights: np.ndarray,
        out: Tensor,
        value: np.ndarray,
        query: np.ndarray,
        key: np.ndarray,
    ) -> None:
        """weights (B, H, Lq, Lk); out (B, H, Lq, Dv), the kernel's output A V before any
        dropout; value (B, Hkv, Lk, Dv), the values it weighed (extra keys included); query
        (B, H, Lq, D) and key (B, Hkv, Lk, D), what the kernel scored (after rotary
        positions), which a record made with ``qk=True`` copies."""
        for r in takers:
            r._put(self, weights, out, value, query, key)


class AttentionRecord(Mapping):
    """What :func:`record_attention` yields: module name -> the (B, H, Lq, Lk) weights of its
    last recorded call, in the model's module order (``named_modules``), holding the modules
    that recorded at least one call. ``history(name)`` lists every recorded call's weights.

    The arrays are the kernel's own outputs (float32 or float64, as the module), made for this
    call and never reused by attnlab.

    With ``keep_outputs=True``, ``outputs(name)`` also lists each recorded call's attention
    output Tensor (B, H, Lq, Dv), which retains its gradient, and values (B, Hkv, Lk, Dv).
    With ``qk=True``, ``qk(name)`` gives the queries and keys the kernel scored.
    """

    def __init__(
        self, model: Module, every: int, *, keep_outputs: bool = False, qk: bool = False
    ) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"model: expected an attnlab.nn.Module, got {type(model).__name__}")
        self.every = at_least(every, "every", 1)
        self.keep_outputs = flag(keep_outputs, "keep_outputs")
        self.keeps_qk = flag(qk, "qk")
        self._names = {
            id(m): name for name, m in model.named_modules() if isinstance(m, RecordsAttention)
        }
        if not self._names:
            raise ValueError(f"model: {type(model).__name__} has no attention module to record")
        self._modules = [m for _, m in model.named_modules() if id(m) in self._names]
        self._calls = dict.fromkeys(self._names, 0)
        self._history: dict[str, list[np.ndarray]] = {}
        self._outputs: dict[str, list[tuple[Tensor, np.ndarray]]] = {}
        self._qk: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._saved: list[tuple[RecordsAttention, tuple]] | None = None

    # ---- the modules' side ----------------------------------------------------------------
    def _takes(self, module: RecordsAttention) -> bool:
        """Counts the call; the 1st, (every + 1)-th, ... calls of each module are recorded."""
        key = id(module)
        calls = self._calls[key]
        self._calls[key] = calls + 1
        return calls % self.every == 0

    def _put(
        self,
        module: RecordsAttention,
        weights: np.ndarray,
        out: Tensor,
        value: np.ndarray,
        query: np.ndarray,
        key: np.ndarray,
    ) -> None:
        name = self._names[id(module)]
        self._history.setdefault(name, []).append(weights)
        if self.keeps_qk:  # copies: the kernel's inputs may be views of a packed projection
            self._qk.setdefault(name, []).append((query.copy(), key.copy()))
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

    def qk(self, name: str, call: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """(queries (B, H, Lq, D), keys (B, Hkv, Lk, D)) that module ``name`` scored in its
        recorded call ``call`` (default the last): after rotary positions, before the
        1/sqrt(D) scale; only for a record made with qk=True. A query head h reads key head
        h // (H / Hkv) (grouped-query attention)."""
        if not self.keeps_qk:
            raise RuntimeError("qk: this record was made without qk=True")
        calls = self._calls_of(name)
        call = index(call, "call")
        if not -len(calls) <= call < len(calls):
            raise IndexError(f"call: {call} is out of range for {len(calls)} recorded calls")
        return self._qk[name][call]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ordered())

    def __len__(self) -> int:
        return len(self._history)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n!r}: {self[n].shape}" for n in self)
        return f"AttentionRecord(every={self.every}, {{{shapes}}})"


def record_attention(model: Module, every: int = 1, *, qk: bool = False) -> AttentionRecord:
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

    With ``qk=True`` the record also keeps the queries and keys each recorded call scored
    (``rec.qk(name)``, after rotary positions), still from the fused path, for
    :func:`attnlab.viz.neuron_view`.
    """
    return AttentionRecord(model, every, qk=qk)
