"""Module: the base of every layer and model, as torch.nn.Module.

Parameters, buffers and submodules registered by attribute assignment; recursive iteration
with dotted names; train/eval; dtype switches; ``state_dict`` / ``load_state_dict`` with strict
checks that name every missing, unexpected, mis-shaped or mis-typed key; ``spec()``: the
constructor arguments that built one of attnlab's own modules (what checkpoints rebuild from).
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from attnlab.nn.parameter import Parameter
from attnlab.tensor import FLOAT_DTYPES, Tensor


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class ModuleSpec(NamedTuple):
    """How a module was built: its class and the arguments its constructor got, by parameter
    name with the defaults filled in. A module among the arguments appears as its own
    ModuleSpec (whose ``args`` is None when it is not one of attnlab's)."""

    cls: type
    args: dict[str, Any] | None


class Module:
    """Base class of layers and models: subclasses set parameters and submodules as
    attributes in ``__init__`` (after ``super().__init__()``) and define ``forward``."""

    training: bool

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # attnlab's own layers and models remember their constructor's arguments (spec()),
        # which attnlab.load_model rebuilds them from; a user's subclass is left as written.
        if cls.__module__.startswith("attnlab."):
            cls.__init__ = _recording_arguments(cls, cls.__init__)

    def spec(self) -> ModuleSpec | None:
        """The class and constructor arguments that built this module, for attnlab's own
        layers and models (``nn.Linear(4, 2).spec().args == {"in_features": 4,
        "out_features": 2, "bias": True, "dtype": np.float32}``); None for a module whose
        class is not attnlab's. Changes made after construction (``.double()``, appended
        layers) are not in it."""
        args = self.__dict__.get("_spec_args")
        return None if args is None else ModuleSpec(type(self), dict(args))

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ---------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before setting {name!r}"
            )
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if isinstance(value, Parameter):
            buffers.pop(name, None), modules.pop(name, None), d.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None), buffers.pop(name, None), d.pop(name, None)
            modules[name] = value
        elif name in params or name in modules:
            if value is not None:
                kind = "Parameter" if name in params else "Module"
                raise TypeError(
                    f"{name}: cannot assign a {type(value).__name__} where a {kind} "
                    f"is registered (expected a {kind} or None)"
                )
            (params if name in params else modules)[name] = None
        elif name in buffers:
            buffers[name] = None if value is None else _buffer_value(value, name)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{name}: expected a Parameter or None, got {type(param).__name__}")
        self._parameters[name] = param

    def register_buffer(
        self, name: str, value: np.ndarray | Tensor | None, persistent: bool = True
    ) -> None:
        """A state array that is not learned (a positional table, a mask): saved in
        ``state_dict`` when persistent, converted by ``double()``/``float()`` when float."""
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"name: expected a non-empty name without dots, got {name!r}")
        self._buffers[name] = None if value is None else _buffer_value(value, name)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{name}: expected a Module, got {type(module).__name__}")
        self._modules[name] = module

    # ---- calling --------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- iteration ------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Every module in the tree once (shared ones too), depth first, with dotted names."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{n}" if name else n, m)
                for n, m in module._modules.items()
                if m is not None
            ]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct submodules, each once (a module registered under two names: the first)."""
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, table: str, prefix: str, recurse: bool):
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter); a parameter shared by two modules (tied weights) once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, np.ndarray]]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self) -> int:
        """How many learnable numbers the module holds (shared parameters counted once)."""
        return sum(p.size for p in self.parameters())

    # ---- modes and dtypes -----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise TypeError(f"mode: expected a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Calls ``fn`` on every submodule, then on self (as torch: children first)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, dtype: Any) -> Module:
        """Converts every parameter and float buffer to ``dtype`` in place (float32/float64);
        gradients are dropped."""
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.dtype != dtype:
                    p.data = p.data.astype(dtype)
                    p.grad = None
            for name, b in m._buffers.items():
                if b is not None and b.dtype in FLOAT_DTYPES and b.dtype != dtype:
                    m._buffers[name] = b.astype(dtype)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # ---- state ----------------------------------------------------------------------------
    def _state_entries(self, prefix: str = "") -> Iterator[tuple[str, Module, str, str]]:
        """(key, module, name, table) of each parameter and persistent buffer in torch's order:
        a module's own parameters, then its buffers, then each child's; a module registered
        under two names (tied weights) appears under both, as in torch."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, self, name, "_parameters"
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                yield prefix + name, self, name, "_buffers"
        for name, m in self._modules.items():
            if m is not None:
                yield from m._state_entries(f"{prefix}{name}.")

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Dotted name -> a copy of each parameter and persistent buffer, torch's names.

        Copies (torch's share storage), so that later training does not change a saved dict.
        """
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for key, module, name, table in self._state_entries():
            value = getattr(module, table)[name]
            out[key] = (value.data if isinstance(value, Tensor) else value).copy()
        return out

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copies arrays into the parameters and buffers in place (optimizers keep working).

        Shapes and dtypes must match exactly (no silent casts). With ``strict`` (default), any
        missing or unexpected key is an error too. One ValueError names every problem.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"state_dict: expected a mapping of name -> array, got {type(state_dict).__name__}"
            )
        targets = {key: (module, name, table) for key, module, name, table in self._state_entries()}
        problems = []
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict:
            problems += [f"missing key {k!r}" for k in missing]
            problems += [f"unexpected key {k!r}" for k in unexpected]
        values = {}
        for key, value in state_dict.items():
            if key not in targets:
                continue
            module, name, table = targets[key]
            current = getattr(module, table)[name]
            current = current.data if isinstance(current, Tensor) else current
            array = value.data if isinstance(value, Tensor) else value
            if not isinstance(array, np.ndarray):
                problems.append(f"{key!r}: expected an ndarray, got {type(value).__name__}")
            elif array.shape != current.shape:
                problems.append(
                    f"{key!r}: shape {array.shape} does not match the module's {current.shape}"
                )
            elif array.dtype != current.dtype:
                problems.append(
                    f"{key!r}: dtype {array.dtype} does not match the module's "
                    f"{current.dtype} (convert the module with .double()/.float(), or the arrays)"
                )
            else:
                values[key] = array
        if problems:
            raise ValueError(f"load_state_dict for {type(self).__name__}: " + "; ".join(problems))
        for key, array in values.items():
            module, name, table = targets[key]
            current = getattr(module, table)[name]
            np.copyto(current.data if isinstance(current, Tensor) else current, array)
        return IncompatibleKeys(missing, unexpected)

    # ---- printing -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        count = self.num_parameters()
        note = f"  # {_count(count)} parameters" if count else ""
        if not lines:
            return head + ")" + note
        return head + note + "\n" + "\n".join(lines) + "\n)"


def _recording_arguments(cls: type, init: Callable[..., None]) -> Callable[..., None]:
    """``init`` that also records the arguments it was called with on a module of exactly
    ``cls`` (not on a subclass's, whose constructor may take other arguments)."""
    signature = inspect.signature(init)
    self_name = next(iter(signature.parameters))

    @functools.wraps(init)
    def recording_init(self: Module, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self) is cls:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            recorded = {k: _spec_value(v) for k, v in bound.arguments.items() if k != self_name}
            object.__setattr__(self, "_spec_args", recorded)

    return recording_init


def _spec_value(value: Any) -> Any:
    """An argument as recorded: modules as their specs (so that a prototype layer that a stack
    copies is not kept alive), inside lists, tuples and dicts too."""
    if isinstance(value, Module):
        return value.spec() or ModuleSpec(type(value), None)
    if isinstance(value, (list, tuple)):
        return type(value)(_spec_value(v) for v in value)
    if isinstance(value, dict):
        return {k: _spec_value(v) for k, v in value.items()}
    return value


def _count(n: int) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e4:
        return f"{n / 1e3:.1f}k"
    return str(n)


def _buffer_value(value: Any, name: str) -> np.ndarray:
    value = value.data if isinstance(value, Tensor) else value
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name}: a buffer is an ndarray or Tensor, got {type(value).__name__}")
    return value
