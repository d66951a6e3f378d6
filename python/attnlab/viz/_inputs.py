"""One normalizer for every layout of attention weights the views and analyses accept.

Accepted: one head (Lq, Lk); a layer (H, Lq, Lk); a model (layers, H, Lq, Lk); a list of
per-layer (H, Lq, Lk) or (1, H, Lq, Lk) arrays (bertviz's layout); a ``record_attention``
record, a mapping from module name to (B, H, Lq, Lk) in layer order. Anything with
``__array__`` (an attnlab Tensor) counts as an array.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from attnlab._validation import FLOAT_DTYPES

_LAYOUTS = "(Lq, Lk), (H, Lq, Lk), (layers, H, Lq, Lk), a list of per-layer arrays or a record"


@dataclass(frozen=True)
class Attention:
    """Weights as (layers, H, Lq, Lk), never copied; ``leading`` is the shape per-head results
    take for this input: () for one head, (H,) for a layer, (layers, H) otherwise."""

    weights: np.ndarray
    layer_names: list[str]
    leading: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return self.weights.shape


def _array(x: object, name: str) -> np.ndarray:
    if isinstance(x, (np.matrix, np.ma.MaskedArray)):
        raise TypeError(f"{name}: expected a plain NumPy array, got {type(x).__name__}")
    if not isinstance(x, np.ndarray):
        if not hasattr(x, "__array__") or isinstance(x, (str, bytes, Sequence, Mapping)):
            raise TypeError(f"{name}: expected an array of attention weights, got {type(x).__name__}")
        x = np.asarray(x)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected dtype float32 or float64, got {x.dtype}")
    return x


def checked_index(x: object, name: str, size: int, axis_name: str) -> int:
    if isinstance(x, bool):
        raise TypeError(f"{name}: expected an int, got bool")
    try:
        i = operator.index(x)
    except TypeError:
        raise TypeError(f"{name}: expected an int, got {type(x).__name__}") from None
    if not -size <= i < size:
        raise ValueError(f"{name}: {i} is out of range for {axis_name} = {size}")
    return i


def _same_shapes(arrays: list[np.ndarray], names: list[str], arg: str) -> None:
    first = arrays[0].shape
    for a, label in zip(arrays[1:], names[1:]):
        if a.shape != first:
            raise ValueError(f"{arg}[{label!r}]: shape {a.shape} does not match "
                             f"{arg}[{names[0]!r}]'s {first} (every layer needs the same H, Lq, Lk)")


def _from_record(record: Mapping, name: str, batch_index: object) -> Attention:
    if not record:
        raise ValueError(f"{name}: the record holds no attention module")
    labels = [str(key) for key in record]
    arrays = []
    for key, label in zip(record, labels):
        a = _array(record[key], f"{name}[{label!r}]")
        if a.ndim != 4:
            raise ValueError(f"{name}[{label!r}]: expected 4 dimensions (B, H, Lq, Lk), "
                             f"got {a.ndim} with shape {a.shape}")
        arrays.append(a)
    _same_shapes(arrays, labels, name)
    b = checked_index(batch_index, "batch_index", arrays[0].shape[0], "B")
    return Attention(np.stack([a[b] for a in arrays]), labels, (len(arrays), arrays[0].shape[1]))


def _from_list(layers: Sequence, name: str) -> Attention:
    if not layers:
        raise ValueError(f"{name}: the list holds no layer")
    arrays = []
    for i, layer in enumerate(layers):
        a = _array(layer, f"{name}[{i}]")
        if a.ndim == 4 and a.shape[0] == 1:
            a = a[0]
        if a.ndim != 3:
            raise ValueError(f"{name}[{i}]: expected (H, Lq, Lk) or (1, H, Lq, Lk), "
                             f"got shape {a.shape}")
        arrays.append(a)
    _same_shapes(arrays, list(range(len(arrays))), name)
    return Attention(np.stack(arrays), [f"layer {i}" for i in range(len(arrays))],
                     (len(arrays), arrays[0].shape[0]))


def attention(weights: object, name: str = "weights", *, batch_index: object = 0) -> Attention:
    """``weights`` in any accepted layout as an :class:`Attention` (float32/float64, finite).

    TypeError for a non-float dtype or a non-array; ValueError naming ``name`` for a wrong
    ndim, layers of different shapes (ragged heads), NaN or inf.
    """
    if isinstance(weights, Mapping):
        result = _from_record(weights, name, batch_index)
    elif isinstance(weights, (list, tuple)):
        result = _from_list(weights, name)
    else:
        a = _array(weights, name)
        if not 2 <= a.ndim <= 4:
            raise ValueError(f"{name}: expected 2 to 4 dimensions {_LAYOUTS}, "
                             f"got {a.ndim} with shape {a.shape}")
        leading = a.shape[:-2]
        result = Attention(a.reshape((1,) * (4 - a.ndim) + a.shape), [], leading)
    if not result.layer_names:
        result = Attention(result.weights, [f"layer {i}" for i in range(result.shape[0])],
                           result.leading)
    if not np.isfinite(result.weights).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return result


def nonnegative(att: Attention, name: str = "weights") -> Attention:
    """``att`` itself when no weight is negative (attention weights are probabilities)."""
    if att.weights.size and att.weights.min() < 0:
        raise ValueError(f"{name}: attention weights must be >= 0, found {att.weights.min()}")
    return att


def nonempty(att: Attention, name: str = "weights") -> Attention:
    """``att`` itself when it has at least one head, query and key (a view needs something)."""
    if 0 in att.shape:
        raise ValueError(f"{name}: nothing to show in (layers, H, Lq, Lk) = {att.shape}")
    return att


def token_labels(tokens: object, count: int, name: str, axis: str) -> list[str]:
    """``tokens`` as ``count`` strings; "0", ..., "count-1" for None.

    Items may be str or int (token ids); ValueError naming ``name`` when the count differs.
    """
    if tokens is None:
        return [str(i) for i in range(count)]
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, (Sequence, np.ndarray)):
        raise TypeError(f"{name}: expected a sequence of token strings, got {type(tokens).__name__}")
    labels = []
    for i, token in enumerate(tokens):
        if isinstance(token, (str, np.str_)):
            labels.append(str(token))
        elif isinstance(token, (int, np.integer)) and not isinstance(token, bool):
            labels.append(str(int(token)))
        else:
            raise TypeError(f"{name}[{i}]: expected a str or int token, got {type(token).__name__}")
    if len(labels) != count:
        raise ValueError(f"{name}: {len(labels)} tokens, but the weights have {axis} = {count}")
    return labels


def query_key_labels(tokens: object, key_tokens: object, lq: int, lk: int) -> tuple[list[str], list[str]]:
    """Labels of the queries and keys; ``key_tokens`` defaults to ``tokens`` for self attention
    and must be given for cross attention (Lq != Lk) when ``tokens`` is."""
    queries = token_labels(tokens, lq, "tokens", "Lq (axis -2)")
    if key_tokens is None:
        if tokens is not None and lq != lk:
            raise ValueError(f"key_tokens: needed for cross attention (Lq = {lq} queries, "
                             f"Lk = {lk} keys)")
        return queries, (queries if lq == lk else token_labels(None, lk, "key_tokens", ""))
    return queries, token_labels(key_tokens, lk, "key_tokens", "Lk (axis -1)")
