"""Checkpoints: a model, optionally its optimizer and a step count, in one safetensors file.

>>> import attnlab as al, numpy as np, tempfile, os
>>> model = al.models.GPT(vocab_size=12, block_size=8, n_layer=1, n_head=2, d_model=16)
>>> path = os.path.join(tempfile.mkdtemp(), "gpt.safetensors")
>>> al.save(model, path, step=100)
>>> restored = al.load_model(path)
>>> all(np.array_equal(a, b) for a, b in zip(model.parameters(), restored.parameters()))
True

The file is plain safetensors (any safetensors reader sees the weights under their
``state_dict`` names); its string metadata holds:

- ``format_version``: ``"1"``; a file of another version is refused, not guessed at.
- ``sha256``: the SHA-256 of the tensor data (every byte after the header), checked on load.
- ``class``: the model's class by its public name (``"attnlab.models.GPT"``), present when
  attnlab can rebuild it: its models and the layers ``attnlab.nn`` exports (the table is in
  ``attnlab._rebuild``); never an import path.
- ``config``: the arguments its constructor got, as JSON (``Module.spec()``, dtype aside);
  absent when one has no JSON form (a function as ``activation``).
- ``dtype``: ``"float32"`` or ``"float64"``, that of all the model's parameters and buffers
  (absent when they have none or mix both): what the model is rebuilt in.
- ``step``: the step count given to :func:`save`.
- ``optimizer``: JSON ``{"class", "param_groups", "state"}``: the hyper-parameters and
  parameter indices of each group and each parameter's scalar state (Adam's ``step``); the
  state's arrays (``exp_avg``, ``momentum_buffer``...) are tensors named
  ``__optimizer__/state/<index>/<name>``.
- ``rng_state``: JSON of :func:`attnlab.get_rng_state` at the save, when ``save(...,
  rng=True)``: the global generator that draws dropout masks and shuffles, so that a run
  resumed with ``load(..., rng=True)`` draws what the uninterrupted run drew.

Nothing is ever unpickled. Anything wrong with a file raises :class:`CheckpointError`, which
says what: each header field is checked against the file's real size before the safetensors
package reads a tensor, so a truncated or hostile file is refused without a crash, a hang or
an allocation its size does not back.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from attnlab import _allocation, _random, _rebuild
from attnlab._atomic import write_atomically
from attnlab._safetensors_header import DTYPES, Header, HeaderError, parse, strict_json
from attnlab._validation import flag, index
from attnlab.nn.module import Module
from attnlab.optim.optimizer import Optimizer
from attnlab.tensor import Tensor

FORMAT_VERSION = 1
OPTIMIZER_PREFIX = "__optimizer__/"
_STORABLE = frozenset(DTYPES.values())
_INDEX = r"0|[1-9][0-9]{0,8}"  # a parameter's index in an optimizer's state, one spelling each
# What rebuilding a model may allocate beyond the checkpoint's own tensors: position tables
# (a function of the sizes, not saved), and the prototype layer a stack copies.
_SPARE_ELEMENTS = 2**22
_SPARE_ARRAYS = 64


class CheckpointError(ValueError):
    """A checkpoint file that is truncated, corrupt, hostile or of an unknown version, or
    whose config or weights do not make the model it names. The message says which."""


@dataclass(frozen=True, repr=False)
class Checkpoint:
    """What :func:`load` reads: the model's ``state_dict`` (name -> ndarray, sorted by name),
    its exported ``model_class`` and ``config`` (constructor arguments; None when the file
    has none), the ``optimizer_state`` (what ``Optimizer.load_state_dict`` takes; None when
    no optimizer was saved), the ``step`` given to :func:`save`, the raw string
    ``metadata``, the ``path`` read, and the ``rng_state`` saved with ``rng=True`` (what
    :func:`attnlab.set_rng_state` takes; None when it was not saved)."""

    state_dict: dict[str, np.ndarray]
    config: dict[str, Any] | None
    optimizer_state: dict[str, Any] | None
    metadata: dict[str, str]
    step: int | None
    model_class: str | None
    path: str
    rng_state: dict[str, Any] | None = None

    def __repr__(self) -> str:
        optimizer = "None"
        if self.optimizer_state is not None:
            optimizer = strict_json(self.metadata["optimizer"], "")["class"]
        return (
            f"Checkpoint(model_class={self.model_class!r}, step={self.step}, "
            f"{len(self.state_dict)} tensors, optimizer={optimizer}, path={self.path!r})"
        )


def save(
    obj: Module | Mapping[str, np.ndarray],
    path: str | os.PathLike,
    *,
    optimizer: Optimizer | None = None,
    step: int | None = None,
    rng: bool = False,
) -> None:
    """Writes ``obj`` (a Module, or a state dict of name -> array) to ``path``, with the
    state of ``optimizer`` (which must train obj's parameters) and ``step`` when given, and
    with ``rng`` the global generator's state (:func:`attnlab.get_rng_state`, which draws
    dropout masks), as PyTorch users save ``torch.get_rng_state()``.

    The write is atomic: a temporary file in the same folder is written, fsynced and renamed
    over ``path``, then the folder is fsynced; if the save fails or is interrupted, an
    existing file at ``path`` is left as it was. Warns (RuntimeWarning) when a tensor holds
    NaN or Inf; the file is written anyway, as the weights are.
    """
    path = _path(path)
    tensors, metadata = _model_entries(obj)
    if step is not None:
        step = index(step, "step")
        if step < 0:
            raise ValueError(f"step: expected an int >= 0, got {step}")
        metadata["step"] = str(step)
    if optimizer is not None:
        optimizer_json, optimizer_tensors = _optimizer_entries(optimizer, obj)
        metadata["optimizer"] = _rebuild.dumps(optimizer_json)
        tensors.update(optimizer_tensors)
    if flag(rng, "rng"):
        metadata["rng_state"] = _rebuild.dumps(_random.get_rng_state())
    bad = _non_finite(tensors)
    if bad:
        warnings.warn(
            f"attnlab.save: {bad}; the checkpoint is written as they are",
            RuntimeWarning,
            stacklevel=2,
        )
    write_atomically(path, _with_checksum(tensors, metadata))


def load(path: str | os.PathLike, *, rng: bool = False) -> Checkpoint:
    """Reads the checkpoint at ``path``, checking every field (see the module's docs); with
    ``rng``, also puts the global generator back in the state saved with ``save(...,
    rng=True)``, so that a resumed run draws the dropout masks the uninterrupted one drew.

    CheckpointError for a truncated, corrupt or hostile file, an unknown format version, a
    checksum that does not match or a class that is not attnlab's, and with ``rng`` for a
    file saved without it; OSError when the file cannot be opened. Warns (RuntimeWarning)
    when a tensor holds NaN or Inf.
    """
    rng = flag(rng, "rng")
    checkpoint = _load(_path(path), stacklevel=3)
    if rng:
        _restore_rng(checkpoint)
    return checkpoint


def load_model(source: str | os.PathLike | Checkpoint, *, rng: bool = False) -> Module:
    """The model a checkpoint (a path, or what :func:`load` returned) holds: its class rebuilt
    from its config, with the saved weights loaded; in training mode, as its constructor
    leaves it (call ``.eval()`` for inference).

    Works for attnlab's models (GPT, EncoderClassifier, Seq2Seq) and the layers ``attnlab.nn``
    exports, built by their constructors: a module of your own, or one changed after it was
    built (a layer appended, a head replaced), is rebuilt by your code instead, then
    ``module.load_state_dict(checkpoint.state_dict)``. The config cannot make the rebuild
    allocate much more than the file's own tensors hold; building draws no numbers from
    ``al.manual_seed``'s generator (its state is restored). With ``rng``, the generator is
    then put in the state the file holds, as ``load(..., rng=True)`` does.
    """
    rng = flag(rng, "rng")
    if isinstance(source, Checkpoint):
        checkpoint = source
    else:
        checkpoint = _load(_path(source, "source"), stacklevel=3)
    where, name = checkpoint.path, checkpoint.model_class
    if name is None:
        raise CheckpointError(
            f"{where}: names no model class: it was saved from a module attnlab cannot rebuild "
            "(a class of your own, or a state dict); build the module and call "
            "module.load_state_dict(checkpoint.state_dict)"
        )
    if checkpoint.config is None:
        raise CheckpointError(
            f"{where}: {name} was saved without a config (an argument of its constructor has "
            "no JSON form, such as a function); build it as you did and call "
            "module.load_state_dict(checkpoint.state_dict)"
        )
    state = checkpoint.state_dict
    dtype = checkpoint.metadata.get("dtype")
    generator = _random.generator()
    seeds = generator.bit_generator.state
    try:
        with _allocation.limit(
            2 * sum(a.size for a in state.values()) + _SPARE_ELEMENTS,
            2 * len(state) + _SPARE_ARRAYS,
        ):
            model = _rebuild.build(
                name, checkpoint.config, None if dtype is None else np.dtype(dtype)
            )
    except Exception as e:  # a constructor's complaint about values that came from the file
        raise CheckpointError(f"{where}: its config does not build {name}: {e}") from e
    finally:
        generator.bit_generator.state = seeds
    try:
        model.load_state_dict(state)
    except ValueError as e:
        raise CheckpointError(
            f"{where}: the weights do not fit the {name} its config builds: {e}"
        ) from None
    if rng:
        _restore_rng(checkpoint)
    return model


def _restore_rng(checkpoint: Checkpoint) -> None:
    if checkpoint.rng_state is None:
        raise CheckpointError(
            f"{checkpoint.path}: holds no RNG state (save(..., rng=True) stores it)"
        )
    _random.set_rng_state(checkpoint.rng_state)


# ---- writing ------------------------------------------------------------------------------


def _path(path: object, name: str = "path") -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def _model_entries(obj: object) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors of ``obj`` and the metadata that describes it."""
    metadata = {"format_version": str(FORMAT_VERSION)}
    if isinstance(obj, Module):
        items = obj.state_dict().items()
        name = _rebuild.class_name(obj)
        floats = {
            a.dtype
            for a in (*(p.data for p in obj.parameters()), *obj.buffers())
            if a.dtype.kind == "f"
        }
        if name is not None:
            metadata["class"] = name
            if len(floats) == 1:
                metadata["dtype"] = floats.pop().name
            try:
                metadata["config"] = _rebuild.dumps(_rebuild.config_of(obj))
            except _rebuild.Unencodable:
                pass  # load_model then says the module must be built by hand
    elif isinstance(obj, Mapping):
        items = obj.items()
    else:
        raise TypeError(
            f"obj: expected an attnlab.nn.Module or a mapping of name -> array, "
            f"got {type(obj).__name__}"
        )
    tensors = {}
    for key, value in items:
        value = value.data if isinstance(value, Tensor) else value
        if not isinstance(key, str) or not key or key.startswith("__"):
            raise ValueError(
                f"obj: {key!r} cannot name a tensor (names are non-empty strings; "
                "those starting with '__' are the checkpoint's own)"
            )
        if not isinstance(value, np.ndarray):
            raise TypeError(f"obj[{key!r}]: expected an ndarray, got {type(value).__name__}")
        if value.dtype.newbyteorder("=") not in _STORABLE:
            raise TypeError(
                f"obj[{key!r}]: dtype {value.dtype} cannot be stored (bool, ints, "
                "float16, float32 and float64 can)"
            )
        tensors[key] = np.ascontiguousarray(value)
    return tensors, metadata


def _optimizer_entries(optimizer: object, obj: object) -> tuple[dict, dict[str, np.ndarray]]:
    """The optimizer's state dict as JSON and tensors (see the module's docs)."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer: expected an attnlab.optim.Optimizer, got {type(optimizer).__name__}"
        )
    if isinstance(obj, Module):
        owned = {id(p) for p in obj.parameters()}
        for gi, group in enumerate(optimizer.param_groups):
            for i, p in enumerate(group["params"]):
                if id(p) not in owned:
                    raise ValueError(
                        f"optimizer: param group {gi}, position {i} holds a "
                        "parameter that is not the model's (save an optimizer with "
                        "the model it trains)"
                    )
    saved = optimizer.state_dict()
    tensors, state = {}, {}
    for i, entry in saved["state"].items():
        scalars = {}
        for key, value in entry.items():
            if isinstance(value, np.ndarray):
                tensors[f"{OPTIMIZER_PREFIX}state/{i}/{key}"] = np.ascontiguousarray(value)
            else:
                scalars[key] = _optimizer_json(value, f"optimizer: state[{i}][{key!r}]")
        state[str(i)] = scalars
    groups = [
        {k: _optimizer_json(v, f"optimizer: param_groups[{gi}][{k!r}]") for k, v in group.items()}
        for gi, group in enumerate(saved["param_groups"])
    ]
    return {"class": type(optimizer).__name__, "param_groups": groups, "state": state}, tensors


def _optimizer_json(value: Any, where: str) -> Any:
    try:
        return _rebuild.to_json(value, where)
    except _rebuild.Unencodable as e:
        raise TypeError(f"{e}; a checkpoint stores an optimizer's settings as JSON") from None


def _non_finite(tensors: Mapping[str, np.ndarray]) -> str:
    """Which float tensors hold NaN or Inf, said in words ("" when none do)."""
    bad = [k for k, a in tensors.items() if a.dtype.kind == "f" and not np.isfinite(a).all()]
    if not bad:
        return ""
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return f"NaN or Inf in {', '.join(map(repr, bad[:5]))}{more}"


def _with_checksum(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytearray:
    """The safetensors file of ``tensors`` and ``metadata`` plus the data's SHA-256.

    The data's layout is safetensors' choice, so the file is serialized with 64 zeros where
    the hash goes, then the hash overwrites them: the same length, in an ASCII JSON string
    that appears once in the header, unescaped (any copy inside another metadata string has
    its quotes escaped).
    """
    placeholder = b'"sha256":"' + b"0" * 64 + b'"'
    data = bytearray(safetensors.numpy.save(tensors, metadata={**metadata, "sha256": "0" * 64}))
    start = 8 + int.from_bytes(data[:8], "little")
    at = data.find(placeholder, 0, start)
    if at < 0 or data.find(placeholder, at + 1, start) >= 0:
        raise RuntimeError("attnlab.save: the checksum's place in the header is ambiguous")
    digest = hashlib.sha256(memoryview(data)[start:]).hexdigest().encode()
    data[at + len(b'"sha256":"') : at + len(placeholder) - 1] = digest
    return data


# ---- reading ------------------------------------------------------------------------------


def _load(path: str, stacklevel: int) -> Checkpoint:
    data = _read(path)
    try:
        checkpoint = _checkpoint(parse(data), data, path)
    except HeaderError as e:
        raise CheckpointError(f"{path}: {e}") from None
    tensors = dict(checkpoint.state_dict)
    if checkpoint.optimizer_state is not None:
        tensors.update(
            (f"{OPTIMIZER_PREFIX}state/{i}/{k}", v)
            for i, entry in checkpoint.optimizer_state["state"].items()
            for k, v in entry.items()
            if isinstance(v, np.ndarray)
        )
    bad = _non_finite(tensors)
    if bad:
        warnings.warn(f"attnlab.load: {path}: {bad}", RuntimeWarning, stacklevel=stacklevel)
    return checkpoint


def _read(path: str) -> bytes:
    """The bytes of the regular file at ``path`` (a FIFO or device is refused, not read: it
    could block or never end)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{path}: not a regular file")
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb", closefd=True) as f:
        return f.read(info.st_size)


def _checkpoint(header: Header, data: bytes, path: str) -> Checkpoint:
    meta = header.metadata
    _check_version(meta.get("format_version"))
    expected = meta.get("sha256")
    if not isinstance(expected, str) or not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise HeaderError(f"the metadata's sha256 {expected!r} is not a SHA-256 in hex")
    actual = hashlib.sha256(memoryview(data)[header.data_start :]).hexdigest()
    if actual != expected:
        raise HeaderError(
            f"checksum mismatch: the tensor data's SHA-256 is {actual}, the "
            f"metadata says {expected}: the data is corrupt"
        )
    model_class = meta.get("class")
    if model_class is not None:
        _as_header_error(_rebuild.check_class, model_class, "the metadata's class")
    config = None
    if "config" in meta:
        config = strict_json(meta["config"], "the metadata's config")
        if not isinstance(config, dict) or model_class is None:
            raise HeaderError("the metadata's config is not a JSON object with a class")
        _as_header_error(_rebuild.check_config, config, "the metadata's config")
    if meta.get("dtype", "float32") not in ("float32", "float64"):
        raise HeaderError(f"the metadata's dtype {meta['dtype']!r} is not float32 or float64")
    step = meta.get("step")
    if step is not None:
        if not re.fullmatch(r"[0-9]{1,19}", step):
            raise HeaderError(f"the metadata's step {step!r} is not an int >= 0")
        step = int(step)
    rng_state = None
    if "rng_state" in meta:
        where = "the metadata's rng_state"
        try:
            rng_state = _random.check_state(strict_json(meta["rng_state"], where), where)
        except (TypeError, ValueError) as e:
            raise HeaderError(str(e)) from None
    try:
        arrays = safetensors.numpy.load(data)
    except safetensors.SafetensorError as e:
        raise HeaderError(f"safetensors cannot read it: {e}") from None
    # Copies: the views safetensors returns are read-only; a state_dict's arrays are not.
    arrays = {name: np.array(arrays[name]) for name in sorted(arrays)}
    model = {k: a for k, a in arrays.items() if not k.startswith(OPTIMIZER_PREFIX)}
    optimizer = {k: a for k, a in arrays.items() if k.startswith(OPTIMIZER_PREFIX)}
    optimizer_state = None
    if "optimizer" in meta:
        optimizer_state = _optimizer_state(meta["optimizer"], optimizer)
    elif optimizer:
        raise HeaderError(
            f"tensor {next(iter(optimizer))!r} is an optimizer's, but the metadata has no optimizer"
        )
    return Checkpoint(
        model, config, optimizer_state, dict(meta), step, model_class, path, rng_state
    )


def _check_version(version: str | None) -> None:
    if version is None:
        raise HeaderError(
            "its metadata has no format_version: not an attnlab checkpoint (a "
            "plain safetensors file reads with safetensors.numpy.load_file)"
        )
    if not re.fullmatch(r"[0-9]{1,9}", version):
        raise HeaderError(f"the metadata's format_version {version!r} is not a version number")
    if int(version) > FORMAT_VERSION:
        raise HeaderError(
            f"format version {int(version)} is newer than this attnlab reads "
            f"({FORMAT_VERSION}): update attnlab to read it"
        )
    if int(version) != FORMAT_VERSION:
        raise HeaderError(
            f"unknown format version {int(version)} (this attnlab reads {FORMAT_VERSION})"
        )


def _as_header_error(check: Any, value: Any, where: str) -> None:
    try:
        check(value, where)
    except ValueError as e:
        raise HeaderError(str(e)) from None


def _optimizer_state(text: str, tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """The optimizer's state dict from its JSON and its tensors, its layout checked."""
    where = "the metadata's optimizer"
    saved = strict_json(text, where)
    if not isinstance(saved, dict) or set(saved) != {"class", "param_groups", "state"}:
        raise HeaderError(f"{where} is not a JSON object of class, param_groups and state")
    groups, state = saved["param_groups"], saved["state"]
    if not isinstance(groups, list) or not all(
        isinstance(g, dict)
        and isinstance(g.get("params"), list)
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in g["params"])
        for g in groups
    ):
        raise HeaderError(
            f"{where}: param_groups is not a list of groups, each with a list "
            "of parameter indices (ints >= 0)"
        )
    if not isinstance(state, dict) or not all(
        re.fullmatch(_INDEX, k) and isinstance(v, dict) for k, v in state.items()
    ):
        raise HeaderError(f"{where}: state is not a map of parameter indices to objects")
    state = {int(k): v for k, v in state.items()}
    for name, array in tensors.items():
        parts = name[len(OPTIMIZER_PREFIX) :].split("/", 2)
        if (
            len(parts) != 3
            or parts[0] != "state"
            or not re.fullmatch(_INDEX, parts[1])
            or int(parts[1]) not in state
            or parts[2] in state[int(parts[1])]
        ):
            raise HeaderError(
                f"tensor {name!r} is not the state of one of the optimizer's parameters"
            )
        state[int(parts[1])][parts[2]] = array
    return {"state": state, "param_groups": groups}
