"""The checks a safetensors file passes before any tensor is read from it.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON (an optional
``"__metadata__"`` map of strings, and per tensor its ``dtype``, ``shape`` and
``data_offsets`` into the data that follows), then the data. Every field is checked here
against the bytes actually present, so that a truncated, corrupt or hostile file is rejected
with a message that says what is wrong, before the safetensors package or NumPy see it: no
allocation is ever sized by a number from the file that the file's own size does not back.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# The safetensors package's own limit on the header.
MAX_HEADER_BYTES = 100_000_000
# NumPy 1's limit on dimensions (NumPy 2's is 64).
MAX_DIMS = 32
# The dtypes attnlab reads, by their safetensors names (bfloat16 and float8 have no NumPy dtype).
DTYPES: dict[str, np.dtype] = {
    name: np.dtype(t)
    for name, t in (
        ("BOOL", np.bool_),
        ("U8", np.uint8),
        ("I8", np.int8),
        ("U16", np.uint16),
        ("I16", np.int16),
        ("U32", np.uint32),
        ("I32", np.int32),
        ("U64", np.uint64),
        ("I64", np.int64),
        ("F16", np.float16),
        ("F32", np.float32),
        ("F64", np.float64),
    )
}
TensorEntry = tuple[np.dtype, tuple[int, ...], tuple[int, int]]  # dtype, shape, offsets


class HeaderError(ValueError):
    """What is wrong with a safetensors file's header."""


@dataclass(frozen=True)
class Header:
    """A checked header: ``tensors`` maps each name to (dtype, shape, (begin, end)) with the
    offsets relative to the data, which starts at byte ``data_start`` of the file."""

    metadata: dict[str, str]
    tensors: dict[str, TensorEntry]
    data_start: int


def strict_json(text: str, what: str) -> Any:
    """``text`` parsed as JSON, rejecting duplicate keys, NaN and Infinity (not JSON), and
    nesting deeper than Python's recursion allows, each as a HeaderError."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise HeaderError(f"{what} holds the key {key!r} twice")
            out[key] = value
        return out

    def constant(name: str) -> None:
        raise HeaderError(f"{what} holds {name}, which is not JSON")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except HeaderError:
        raise
    except ValueError as e:  # JSONDecodeError, or an int of more digits than int() converts
        raise HeaderError(f"{what} is not valid JSON ({e})") from None
    except RecursionError:
        raise HeaderError(f"{what} nests too deeply") from None


def parse(data: bytes) -> Header:
    """The checked header of the safetensors file ``data``; HeaderError if anything is off."""
    size = len(data)
    if size < 8:
        raise HeaderError(
            f"the file is truncated: {size} bytes, fewer than the 8 of the "
            "header length that starts a safetensors file"
        )
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER_BYTES:
        raise HeaderError(
            f"the header length {n} exceeds the limit of {MAX_HEADER_BYTES} bytes "
            "(not a safetensors file, or a corrupt one)"
        )
    if 8 + n > size:
        raise HeaderError(
            f"the header length {n} runs past the end of the file ({size} "
            "bytes): the file is truncated or not a safetensors file"
        )
    try:
        text = data[8 : 8 + n].decode("utf-8")
    except UnicodeDecodeError as e:
        raise HeaderError(
            f"the header is not UTF-8 text ({e.reason} at byte {8 + e.start})"
        ) from None
    header = strict_json(text, "the header")
    if not isinstance(header, dict):
        raise HeaderError(f"the header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise HeaderError("the header's __metadata__ is not a map of strings to strings")
    data_size = size - 8 - n
    tensors = {name: _tensor(name, info, data_size) for name, info in header.items()}
    _check_layout(tensors, data_size)
    return Header(metadata, tensors, 8 + n)


def _tensor(name: str, info: object, data_size: int) -> TensorEntry:
    where = f"tensor {name!r}"
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise HeaderError(
            f"{where}: expected exactly the fields dtype, shape and data_offsets, "
            f"got {sorted(info) if isinstance(info, dict) else type(info).__name__}"
        )
    dtype = info["dtype"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise HeaderError(f"{where}: unknown dtype {dtype!r} (attnlab reads {', '.join(DTYPES)})")
    shape = info["shape"]
    if not isinstance(shape, list) or not all(_is_int(d) for d in shape):
        raise HeaderError(f"{where}: shape {shape!r} is not a list of ints")
    if any(d < 0 for d in shape):
        raise HeaderError(f"{where}: shape {shape} has a negative dimension")
    if len(shape) > MAX_DIMS:
        raise HeaderError(f"{where}: shape has {len(shape)} dimensions, more than {MAX_DIMS}")
    offsets = info["data_offsets"]
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets):
        raise HeaderError(f"{where}: data_offsets {offsets!r} is not a pair of ints")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise HeaderError(
            f"{where}: data_offsets {offsets} is not an interval [begin, end] "
            "with 0 <= begin <= end"
        )
    if end > data_size:
        raise HeaderError(
            f"{where}: data_offsets {offsets} run past the end of the data "
            f"({data_size} bytes): the file is truncated"
        )
    nbytes = math.prod(shape) * DTYPES[dtype].itemsize
    if end - begin != nbytes:
        raise HeaderError(
            f"{where}: shape {shape} of dtype {dtype} takes {nbytes} bytes, but "
            f"data_offsets {offsets} hold {end - begin}"
        )
    return DTYPES[dtype], tuple(shape), (begin, end)


def _check_layout(tensors: dict[str, TensorEntry], data_size: int) -> None:
    """The tensors tile the data exactly: no overlap, no gap, nothing after the last."""
    position, previous = 0, None
    for name, (_, _, (begin, end)) in sorted(tensors.items(), key=lambda item: item[1][2]):
        if begin < position:
            raise HeaderError(
                f"tensor {name!r}: data_offsets [{begin}, {end}] overlap those "
                f"of tensor {previous!r}"
            )
        if begin > position:
            raise HeaderError(
                f"tensor {name!r}: data_offsets [{begin}, {end}] leave bytes "
                f"{position} to {begin} of the data unused"
            )
        position, previous = end, name
    if position != data_size:
        raise HeaderError(
            f"the data holds {data_size} bytes, but the tensors cover "
            f"{position}: the file has bytes that belong to no tensor"
        )


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
