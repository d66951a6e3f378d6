"""python/attnlab/_core.pyi, the extension's type stubs, checked against the extension itself.

The stubs are pybind11-stubgen's output. A binding added, removed or given other parameters
fails these tests until the stubs are regenerated, from the repository's root with the new
extension importable:

    PYTHONPATH=python pybind11-stubgen attnlab._core -o python

Compared: the names, and for each overload the parameter names and which ones have a default,
read from the signatures pybind11 writes into each function's docstring. The spelling of the
types is pybind11-stubgen's and not compared.
"""

import ast
import re
from pathlib import Path

import pytest

from attnlab import _core

STUB = Path(_core.__file__).with_name("_core.pyi")
REGENERATE = "regenerate them: PYTHONPATH=python pybind11-stubgen attnlab._core -o python"

Param = tuple[str, bool]  # (name, has a default)


def _split_top_level(text: str, separator: str = ",") -> list[str]:
    """text split at the separators outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote and text[i - 1] != "\\" else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _params(signature_args: str) -> tuple[Param, ...]:
    """The parameters of a pybind11 signature's argument list ("x: T, y: U = 1")."""
    params = []
    for part in _split_top_level(signature_args):
        if part in ("*", "/"):
            continue
        name = re.match(r"\**([A-Za-z_]\w*)", part).group(1)
        params.append((name, len(_split_top_level(part, "=")) > 1))
    return tuple(params)


def _binary_overloads(name: str, doc: str) -> list[tuple[Param, ...]]:
    """Each overload's parameters, from pybind11's docstring of function `name`."""
    numbered = re.findall(rf"^\d+\. {re.escape(name)}\((.*)\) ->", doc, re.M)
    if numbered:
        return [_params(args) for args in numbered]
    first = re.match(rf"{re.escape(name)}\((.*)\) ->", doc)
    assert first, f"{name}: no pybind11 signature in its docstring: {doc[:200]!r}"
    return [_params(first.group(1))]


def _binary_constructors(cls: type) -> list[tuple[Param, ...]]:
    """Each overload of a bound class's constructor (none for a class Python cannot build,
    whose __init__ is object's)."""
    doc = cls.__init__.__doc__ or ""
    return _binary_overloads("__init__", doc) if doc.startswith(("__init__(", "1.")) else []


def _binary() -> tuple[dict[str, list[tuple[Param, ...]]], set[str]]:
    """Functions by name (a class as its constructor, under its own name) and attributes."""
    functions, attributes = {}, set()
    for name in dir(_core):
        if name.startswith("__"):
            continue
        value = getattr(_core, name)
        if isinstance(value, type):
            functions[name] = _binary_constructors(value)
        elif callable(value):
            functions[name] = _binary_overloads(name, value.__doc__ or "")
        else:
            attributes.add(name)
    return functions, attributes


def _stub_params(node: ast.FunctionDef) -> tuple[Param, ...]:
    a = node.args
    positional = a.posonlyargs + a.args
    first_default = len(positional) - len(a.defaults)
    params = [(arg.arg, i >= first_default) for i, arg in enumerate(positional)]
    if a.vararg:
        params.append((a.vararg.arg, False))
    params += [(arg.arg, d is not None) for arg, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        params.append((a.kwarg.arg, False))
    return tuple(params)


def _stub() -> tuple[dict[str, list[tuple[Param, ...]]], set[str]]:
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    functions, attributes = {}, set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            functions.setdefault(node.name, []).append(_stub_params(node))
        elif isinstance(node, ast.ClassDef):
            functions[node.name] = [
                _stub_params(item)
                for item in node.body
                if isinstance(item, ast.FunctionDef) and item.name == "__init__"
            ]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            attributes.add(node.target.id)
        elif isinstance(node, ast.Assign):
            attributes.update(t.id for t in node.targets if isinstance(t, ast.Name))
    attributes.discard("__all__")
    return functions, attributes


def test_signature_parser_reads_nested_types_defaults_and_markers():
    assert _params("a: dict[str, int], b: str = 'x, y', *, c: tuple[int, int] = (1, 2)") == (
        ("a", False),
        ("b", True),
        ("c", True),
    )
    assert _params("x: numpy.typing.NDArray[numpy.float32], /, k: a | None = None") == (
        ("x", False),
        ("k", True),
    )
    assert _params("") == ()
    doc = (
        "f(*args, **kwargs)\nOverloaded function.\n\n1. f(a: int) -> None\n\n"
        "2. f(a: float, b: int = 2) -> None\n"
    )
    assert _binary_overloads("f", doc) == [(("a", False),), (("a", False), ("b", True))]


def test_the_stubs_ship_beside_the_extension():
    assert STUB.is_file(), f"no {STUB.name} beside {Path(_core.__file__).name}; {REGENERATE}"


def test_every_binding_has_a_stub_and_every_stub_a_binding():
    functions, attributes = _binary()
    stub_functions, stub_attributes = _stub()
    assert len(functions) > 20, "the extension should define its bindings"
    assert sorted(functions) == sorted(stub_functions), REGENERATE
    assert attributes == stub_attributes, REGENERATE


def test_each_overload_has_the_bindings_parameters():
    functions, _ = _binary()
    stub_functions, _ = _stub()
    differing = {
        name: (stub_functions.get(name), overloads)
        for name, overloads in functions.items()
        if stub_functions.get(name) != overloads
    }
    assert not differing, f"stub (left) and binary (right) differ: {differing}; {REGENERATE}"


def test_a_stale_stub_is_caught(tmp_path, monkeypatch):
    """The check fails on a stub that lacks a binding or a parameter (it can fail)."""
    text = STUB.read_text(encoding="utf-8")
    stale = tmp_path / "_core.pyi"
    stale.write_text(re.sub(r"def get_num_threads\(\)[^\n]*\n(    [^\n]*\n)*", "", text))
    monkeypatch.setitem(globals(), "STUB", stale)
    with pytest.raises(AssertionError):
        test_every_binding_has_a_stub_and_every_stub_a_binding()
    stale.write_text(text.replace("def force_arch(name: str)", "def force_arch(arch: str)"))
    with pytest.raises(AssertionError):
        test_each_overload_has_the_bindings_parameters()
