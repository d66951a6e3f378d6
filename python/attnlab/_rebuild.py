"""A module's constructor arguments as JSON, and the module rebuilt from them.

Only the models and layers attnlab exports can be described or rebuilt, each by its public
name (``"attnlab.models.GPT"``, ``"attnlab.nn.TransformerEncoderLayer"``): a name from a file
is looked up in that table, never imported. The config holds the arguments by name
(:meth:`Module.spec`), with a module argument (a TransformerEncoder's ``encoder_layer``) as
``{"__module__": name, "config": {...}}``; ``dtype`` is left out, since the weights say it.
"""

from __future__ import annotations

import inspect
import json
import math
from typing import Any

import numpy as np

from attnlab import models, nn
from attnlab.nn.module import ModuleSpec

MODULE_KEY = "__module__"


def _exported_classes() -> dict[str, type]:
    classes = {}
    for prefix, namespace in (("attnlab.nn", nn), ("attnlab.models", models)):
        for name in namespace.__all__:
            cls = getattr(namespace, name)
            if isinstance(cls, type) and issubclass(cls, nn.Module) and cls is not nn.Module:
                classes[f"{prefix}.{name}"] = cls
    return classes


CLASSES: dict[str, type] = _exported_classes()
_NAMES: dict[type, str] = {cls: name for name, cls in CLASSES.items()}


class Unencodable(Exception):
    """Why a module's arguments have no JSON form (a function, an object, a user's class)."""


def class_name(module: nn.Module) -> str | None:
    """The exported name of ``module``'s class, if attnlab can rebuild it."""
    spec = module.spec()
    return _NAMES.get(spec.cls) if spec is not None else None


def config_of(module: nn.Module) -> dict[str, Any]:
    """``module``'s constructor arguments as a JSON-ready dict; Unencodable if one has none."""
    return _encode_args(module.spec() or ModuleSpec(type(module), None))


def _encode_args(spec: ModuleSpec) -> dict[str, Any]:
    if spec.cls not in _NAMES or spec.args is None:
        raise Unencodable(f"{spec.cls.__name__} is not one of attnlab's models or layers")
    name = spec.cls.__name__
    return {
        k: to_json(v, f"the argument {name}({k}=...)") for k, v in spec.args.items() if k != "dtype"
    }


def dumps(value: Any) -> str:
    """Compact JSON of what :func:`to_json` gave."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def to_json(value: Any, where: str) -> Any:
    """``value`` in JSON's types (tuples as lists, NumPy scalars as Python's, modules' specs
    as ``{"__module__": name, "config": ...}``); Unencodable naming ``where`` otherwise."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        return float(value)
    if isinstance(value, ModuleSpec):
        return {MODULE_KEY: _NAMES.get(value.cls), "config": _encode_args(value)}
    if isinstance(value, (list, tuple)):
        return [to_json(v, where) for v in value]
    if (
        isinstance(value, dict)
        and MODULE_KEY not in value
        and all(isinstance(k, str) for k in value)
    ):
        return {k: to_json(v, where) for k, v in value.items()}
    raise Unencodable(f"{where} is a {type(value).__name__}, which has no JSON form")


def check_config(value: Any, where: str = "config") -> None:
    """ValueError unless every module a config names (``__module__``) is an exported class
    and comes with a config object."""
    if isinstance(value, list):
        for i, v in enumerate(value):
            check_config(v, f"{where}[{i}]")
    elif isinstance(value, dict):
        if MODULE_KEY in value:
            name = value[MODULE_KEY]
            if set(value) != {MODULE_KEY, "config"} or not isinstance(value["config"], dict):
                raise ValueError(
                    f"{where}: a module is described by exactly "
                    f"{{{MODULE_KEY!r}: name, 'config': {{...}}}}"
                )
            check_class(name, f"{where}[{MODULE_KEY!r}]")
        for k, v in value.items():
            check_config(v, f"{where}[{k!r}]")


def check_class(name: object, where: str) -> type:
    """The exported class called ``name``; ValueError for any other name."""
    if not isinstance(name, str) or name not in CLASSES:
        raise ValueError(
            f"{where}: {name!r} is not one of attnlab's models or layers (attnlab "
            "rebuilds only those, and never imports a class a file names)"
        )
    return CLASSES[name]


def build(name: str, config: dict[str, Any], dtype: np.dtype | None) -> nn.Module:
    """The module ``name`` built from ``config`` (checked by :func:`check_config`), with
    ``dtype`` for each constructor that takes one. Whatever a constructor raises propagates."""
    cls = check_class(name, "config")
    kwargs = {k: _decode(v, dtype) for k, v in config.items()}
    args: list[Any] = []
    for p in inspect.signature(cls).parameters.values():
        if p.name == "dtype" and dtype is not None:
            kwargs["dtype"] = dtype
        elif p.kind is p.VAR_POSITIONAL and p.name in kwargs:  # Sequential(*modules)
            args = list(kwargs.pop(p.name))
    return cls(*args, **kwargs)


def _decode(value: Any, dtype: np.dtype | None) -> Any:
    if isinstance(value, list):
        return [_decode(v, dtype) for v in value]
    if isinstance(value, dict):
        if MODULE_KEY in value:
            return build(value[MODULE_KEY], value["config"], dtype)
        return {k: _decode(v, dtype) for k, v in value.items()}
    return value
