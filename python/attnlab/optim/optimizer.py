"""The base of attnlab's optimizers: torch.optim.Optimizer's param groups, state and state dicts."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np

from attnlab._validation import FLOAT_DTYPES, flag, real_number


class ParamState(MutableMapping):
    """Per-parameter state, keyed by the parameter object itself (by identity, as torch keys
    tensors): ``opt.state[p]`` is p's dict of buffers, created empty on first access."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[Any, dict]] = {}  # id -> (parameter, its state)

    def __getitem__(self, param: Any) -> dict:
        if id(param) not in self._items:
            self._items[id(param)] = (param, {})
        return self._items[id(param)][1]

    def __setitem__(self, param: Any, value: dict) -> None:
        self._items[id(param)] = (param, value)

    def __delitem__(self, param: Any) -> None:
        del self._items[id(param)]

    def __contains__(self, param: object) -> bool:
        return id(param) in self._items

    def __iter__(self) -> Iterator[Any]:
        return (param for param, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)


def _is_parameter(p: object) -> bool:
    return hasattr(p, "data") and hasattr(p, "grad")


def _checked_parameter(p: object, where: str) -> Any:
    if not _is_parameter(p):
        raise TypeError(
            f"params: expected parameters (objects with .data and .grad) or dicts "
            f"of them, got {type(p).__name__} ({where})"
        )
    data = p.data
    if not isinstance(data, np.ndarray) or data.dtype not in FLOAT_DTYPES:
        got = data.dtype if isinstance(data, np.ndarray) else type(data).__name__
        raise TypeError(
            f"params: expected parameters of dtype float32 or float64, got {got} ({where})"
        )
    return p


def _expect_like(
    value: object, data: np.ndarray, name: str, alternative: str, type_error: type[Exception]
) -> None:
    """Raises unless ``value`` is an ndarray of ``data``'s dtype (else ``type_error``) and shape
    (else ValueError)."""
    if not isinstance(value, np.ndarray):
        raise type_error(f"{name}: expected a NumPy array{alternative}, got {type(value).__name__}")
    if value.dtype != data.dtype:
        raise type_error(
            f"{name}: dtype {value.dtype} does not match the parameter's dtype {data.dtype}"
        )
    if value.shape != data.shape:
        raise ValueError(
            f"{name}: expected shape {data.shape} (the parameter's shape), got {value.shape}"
        )


def nonnegative(value: object, name: str) -> float:
    """``value`` as a float >= 0; TypeError for a non-number, ValueError otherwise."""
    value = real_number(value, name)
    if value < 0:
        raise ValueError(f"{name}: expected a number >= 0, got {value}")
    return value


class Optimizer:
    """Base class of the optimizers, with torch.optim.Optimizer's semantics.

    ``params`` is an iterable of parameters, or of dicts (param groups) each holding
    ``"params"`` (a list of parameters) and hyperparameters that override ``defaults`` for that
    group. A parameter is any object with ``.data`` (a C-contiguous float32/float64 ndarray,
    updated in place by :meth:`step`) and ``.grad`` (an ndarray of the same shape and dtype, or
    None: the parameter is then skipped, as torch skips it).

    ``state`` maps each parameter to its dict of buffers (ndarrays, and a ``"step"`` int where
    the optimizer counts steps). Subclasses define ``_check_group`` (validates a group's
    hyperparameters), ``_state_keys`` (what a parameter's state holds, ``_optional_state_keys``
    among them only sometimes) and ``step``.
    """

    def __init__(self, params: Iterable, defaults: Mapping[str, Any]) -> None:
        if (
            _is_parameter(params)
            or isinstance(params, (np.ndarray, Mapping))
            or not isinstance(params, Iterable)
        ):
            raise TypeError(
                "params: expected an iterable of parameters or of dicts (param "
                f"groups), got {type(params).__name__}"
            )
        self.defaults = dict(defaults)
        self.state = ParamState()
        self.param_groups: list[dict] = []
        groups = list(params)
        if not groups:
            raise ValueError("params: optimizer got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])

    def _check_group(self, group: dict) -> None:
        """Validates (and normalises in place) a group's hyperparameters."""
        raise NotImplementedError

    _state_keys: tuple[str, ...] = ()
    _optional_state_keys: tuple[str, ...] = ()

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Adds a group: its ``"params"`` with its own hyperparameters (the rest from
        ``defaults``), e.g. a layer unfrozen during fine-tuning."""
        if not isinstance(param_group, Mapping):
            raise TypeError(f"param_group: expected a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group: missing key 'params'")
        group = dict(param_group)
        where = f"param group {len(self.param_groups)}"
        params = group["params"]
        if _is_parameter(params):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(
                f"params: expected an ordered collection ({where}), got a set, whose "
                "order changes between runs; use a list"
            )
        elif isinstance(params, np.ndarray) or not isinstance(params, Iterable):
            raise TypeError(
                f"params: expected an iterable of parameters ({where}), got {type(params).__name__}"
            )
        params = [_checked_parameter(p, f"{where}, position {i}") for i, p in enumerate(params)]
        seen: set[int] = set()
        for i, p in enumerate(params):
            if id(p) in seen:
                raise ValueError(
                    f"params: {where} holds the parameter at position {i} more than once"
                )
            seen.add(id(p))
        if any(id(p) in seen for g in self.param_groups for p in g["params"]):
            raise ValueError(f"params: some parameters of {where} appear in an earlier group")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        group["params"] = params
        self._check_group(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Sets every parameter's ``.grad`` to None (default), or fills it with zeros in place."""
        set_to_none = flag(set_to_none, "set_to_none")
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def _with_grads(self, group_index: int) -> tuple[list, list[np.ndarray], list[np.ndarray]]:
        """The group's parameters that have a grad, their data and their grads, checked."""
        group = self.param_groups[group_index]
        self._check_group(group)
        params, data, grads = [], [], []
        for i, p in enumerate(group["params"]):
            if p.grad is None:
                continue
            name = f"param_groups[{group_index}]['params'][{i}]"
            d, g = p.data, p.grad
            if not isinstance(d, np.ndarray) or d.dtype not in FLOAT_DTYPES:
                got = d.dtype if isinstance(d, np.ndarray) else type(d).__name__
                raise TypeError(f"{name}.data: expected dtype float32 or float64, got {got}")
            if not d.flags.c_contiguous or not d.flags.writeable:
                raise ValueError(
                    f"{name}.data: expected a writable C-contiguous array (the step "
                    "updates it in place)"
                )
            _expect_like(g, d, f"{name}.grad", " or None", TypeError)
            params.append(p)
            data.append(d)
            grads.append(np.ascontiguousarray(g))  # only read: a copy here is never written
        return params, data, grads

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a grad; returns ``closure()`` (called first)
        when given, else None."""
        raise NotImplementedError

    # --------------------------------------------------------------------------------------
    # state dicts (torch's layout)

    def state_dict(self) -> dict:
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``, as
        torch: parameters are numbered in group order. The arrays are copies (a snapshot)."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores hyperparameters and state saved by :meth:`state_dict` onto this optimizer's
        parameters (matched by position). ValueError naming the key for any mismatch; nothing
        changes then."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict: expected a dict, got {type(state_dict).__name__}")
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"state_dict: missing key '{key}'")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or len(saved_groups) != len(
            self.param_groups
        ):
            got = len(saved_groups) if isinstance(saved_groups, (list, tuple)) else "no list of"
            raise ValueError(
                f"state_dict['param_groups']: has {got} param groups, this optimizer "
                f"has {len(self.param_groups)}"
            )
        by_index: dict[Any, Any] = {}
        groups = []
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            where = f"state_dict['param_groups'][{gi}]"
            if not isinstance(saved, Mapping) or not isinstance(saved.get("params"), (list, tuple)):
                raise ValueError(f"{where}: expected a dict with a 'params' list of indices")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{where}: has {len(saved['params'])} parameters, this "
                    f"optimizer's group has {len(group['params'])}"
                )
            for index, p in zip(saved["params"], group["params"]):
                if (
                    isinstance(index, bool)
                    or not isinstance(index, (int, np.integer))
                    or index in by_index
                ):
                    raise ValueError(
                        f"{where}['params']: expected distinct int indices, got {index!r}"
                    )
                by_index[index] = p
            new = {
                **self.defaults,
                **{k: v for k, v in saved.items() if k != "params"},
                "params": group["params"],
            }
            self._check_group(new)
            groups.append(new)
        if not isinstance(saved_state, Mapping):
            raise ValueError("state_dict['state']: expected a dict keyed by parameter index")
        state = ParamState()
        for index, entry in saved_state.items():
            where = f"state_dict['state'][{index!r}]"
            if index not in by_index:
                raise ValueError(f"{where}: not the index of any parameter of the param groups")
            state[by_index[index]] = self._loaded_state(by_index[index], entry, where)
        self.param_groups[:] = groups
        self.state = state

    def _loaded_state(self, param: Any, entry: object, where: str) -> dict:
        """A checked copy of one parameter's saved state."""
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a dict, got {type(entry).__name__}")
        missing = [
            k
            for k in self._state_keys
            if k not in entry and entry and k not in self._optional_state_keys
        ]
        if missing:
            raise ValueError(f"{where}: missing key {missing[0]!r}")
        out = {}
        for key, value in entry.items():
            if key not in self._state_keys:
                raise ValueError(
                    f"{where}: unexpected key {key!r} (expected "
                    f"{', '.join(map(repr, self._state_keys))})"
                )
            if key == "step":
                out[key] = _step_count(value, f"{where}['step']")
                continue
            _expect_like(value, param.data, f"{where}[{key!r}]", "", ValueError)
            out[key] = np.array(value, order="C", copy=True)
        return out


def _step_count(value: object, name: str) -> int:
    """A saved step count (an int, or torch's float step converted to NumPy) as an int >= 0."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
        or value < 0
        or value != int(value)
    ):
        raise ValueError(f"{name}: expected a whole number >= 0, got {value!r}")
    return int(value)
