"""One normalizer for every layout of attention weights the views and analyses accept.

Accepted:

- one head (Lq, Lk); a layer (H, Lq, Lk); a model (layers, H, Lq, Lk): no batch axis;
- a batch of a model (layers, B, H, Lq, Lk), e.g. ``torch.stack(outputs.attentions)``;
- a list or tuple of per-layer arrays, each (H, Lq, Lk) or (B, H, Lq, Lk): Hugging Face's
  ``outputs.attentions`` (or ``cross_attentions``, ``encoder_attentions``...) and bertviz's
  layout;
- a mapping from module name to per-layer arrays in layer order, as the list: a
  ``record_attention`` record ((B, H, Lq, Lk) per module) or ``History.timeline``'s snapshots.

``batch_index`` picks the batch item where the input has a batch axis (default: the first)
and is an error where it has none, so that it is never silently ignored. Anything with
``__array__`` counts as an array; torch tensors are detached and copied to the CPU
(``requires_grad``, any device), and float16 or bfloat16 weights are read as float32: the
views and analyses only read them.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from attnlab._validation import FLOAT_DTYPES

_LAYOUTS = (
    "(Lq, Lk), (H, Lq, Lk), (layers, H, Lq, Lk), (layers, B, H, Lq, Lk), a list of "
    "per-layer arrays or a record"
)
_MODEL_OUTPUT_FIELDS = (
    "attentions",
    "encoder_attentions",
    "decoder_attentions",
    "cross_attentions",
)


@dataclass(frozen=True)
class Attention:
    """Weights as (layers, H, Lq, Lk), not copied when the input already is one such array;
    ``leading`` is the shape per-head results take for this input: () for one head, (H,) for
    a layer, (layers, H) otherwise; ``batch`` is (the item shown, the batch size) where the
    input had a batch axis."""

    weights: np.ndarray
    layer_names: list[str]
    leading: tuple[int, ...]
    batch: tuple[int, int] | None = None

    @cached_property
    def low(self) -> np.floating | float:
        """The smallest weight (NaN if any is NaN), read once for the checks that need it."""
        return self.weights.min() if self.weights.size else 0.0

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return self.weights.shape

    @property
    def batch_note(self) -> str:
        """ "batch item i of B" where the input had a batch of more than one, else ""."""
        if self.batch is None or self.batch[1] == 1:
            return ""
        return f"batch item {self.batch[0]} of {self.batch[1]}"


def _torch_to_numpy(x: object) -> object:
    """A torch tensor as a NumPy array (detached, on the CPU, half precisions as float32);
    anything else unchanged. torch itself is never imported here."""
    if not type(x).__module__.startswith("torch") or not hasattr(x, "detach"):
        return x
    x = x.detach()
    if x.device.type != "cpu":
        x = x.cpu()
    if str(x.dtype) in ("torch.float16", "torch.bfloat16"):
        x = x.float()
    return x.numpy()


def _array(x: object, name: str) -> np.ndarray:
    if isinstance(x, (np.matrix, np.ma.MaskedArray)):
        raise TypeError(f"{name}: expected a plain NumPy array, got {type(x).__name__}")
    x = _torch_to_numpy(x)
    if not isinstance(x, np.ndarray):
        if not hasattr(x, "__array__") or isinstance(x, (str, bytes, Sequence, Mapping)):
            raise TypeError(
                f"{name}: expected an array of attention weights, got {type(x).__name__}"
            )
        x = np.asarray(x)
    if x.dtype == np.float16:
        x = x.astype(np.float32)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected dtype float16, float32 or float64, got {x.dtype}")
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


def _batch_item(batch_index: object, size: int) -> tuple[int, int]:
    """(the item, the batch size) that ``batch_index`` (None: the first) picks."""
    if batch_index is None:
        return 0, size
    return checked_index(batch_index, "batch_index", size, "B") % size, size


def _no_batch_axis(batch_index: object, what: str) -> None:
    if batch_index is not None:
        raise ValueError(
            f"batch_index: {what} has no batch axis (a 4-d array is read as (layers, H, Lq, "
            "Lk)); pass a 5-d (layers, B, H, Lq, Lk) array or a list of per-layer (B, H, Lq, "
            "Lk) arrays, such as Hugging Face's outputs.attentions"
        )


def _from_layers(
    items: list[tuple[str, object]], name: str, batch_index: object, keyed: bool
) -> Attention:
    """Per-layer arrays (label, array), each (H, Lq, Lk) or (B, H, Lq, Lk), as one model."""
    arrays = []
    for label, item in items:
        where = f"{name}[{label!r}]" if keyed else f"{name}[{label}]"
        a = _array(item, where)
        if a.ndim not in (3, 4):
            raise ValueError(
                f"{where}: expected (H, Lq, Lk) or (B, H, Lq, Lk), got shape {a.shape}"
            )
        arrays.append((where, a))
    first_where, first = arrays[0]
    for where, a in arrays[1:]:
        if a.shape != first.shape:
            raise ValueError(
                f"{where}: shape {a.shape} does not match {first_where}'s "
                f"{first.shape} (every layer needs the same B, H, Lq, Lk; pass "
                "the modules of one shape, e.g. only the cross attention)"
            )
    batch = None
    if first.ndim == 4:
        batch = _batch_item(batch_index, first.shape[0])
        stacked = np.stack([a[batch[0]] for _, a in arrays])
    else:
        _no_batch_axis(batch_index, f"{name} (per-layer (H, Lq, Lk) arrays)")
        stacked = np.stack([a for _, a in arrays])
    labels = [label for label, _ in items] if keyed else [f"layer {i}" for i in range(len(items))]
    return Attention(stacked, labels, stacked.shape[:2], batch)


def _from_mapping(record: Mapping, name: str, batch_index: object) -> Attention:
    fields = [f for f in _MODEL_OUTPUT_FIELDS if isinstance(record.get(f), (tuple, list))]
    if fields:
        raise TypeError(
            f"{name}: a model output; pass one of its attention fields: "
            + ", ".join(f"outputs.{f}" for f in fields)
        )
    if not record:
        raise ValueError(f"{name}: the record holds no attention module")
    return _from_layers(
        [(str(key), value) for key, value in record.items()], name, batch_index, keyed=True
    )


def _from_array(a: np.ndarray, name: str, batch_index: object) -> Attention:
    if a.ndim == 5:
        item, size = _batch_item(batch_index, a.shape[1])
        return Attention(a[:, item], [], a.shape[:1] + a.shape[2:3], (item, size))
    if not 2 <= a.ndim <= 4:
        raise ValueError(
            f"{name}: expected 2 to 5 dimensions {_LAYOUTS}, got {a.ndim} with shape {a.shape}"
        )
    _no_batch_axis(batch_index, f"{name} of shape {a.shape}")
    return Attention(a.reshape((1,) * (4 - a.ndim) + a.shape), [], a.shape[:-2])


def attention(weights: object, name: str = "weights", *, batch_index: object = None) -> Attention:
    """``weights`` in any accepted layout as an :class:`Attention` (float32/float64, finite).

    TypeError for a non-float dtype or a non-array; ValueError naming ``name`` for a wrong
    ndim, layers of different shapes (ragged heads), NaN or inf, and naming ``batch_index``
    when it is out of range or the input has no batch axis.
    """
    if isinstance(weights, Mapping):
        result = _from_mapping(weights, name, batch_index)
    elif isinstance(weights, (list, tuple)):
        if not weights:
            raise ValueError(f"{name}: the list holds no layer")
        result = _from_layers(list(enumerate(weights)), name, batch_index, keyed=False)
    else:
        result = _from_array(_array(weights, name), name, batch_index)
    if not result.layer_names:
        result = Attention(
            result.weights,
            [f"layer {i}" for i in range(result.shape[0])],
            result.leading,
            result.batch,
        )
    # NaN reaches min and max, and so does an infinity: no array-sized temporary
    if result.weights.size and not (np.isfinite(result.low) and np.isfinite(result.weights.max())):
        raise ValueError(f"{name}: contains NaN or inf")
    return result


def nonnegative(att: Attention, name: str = "weights") -> Attention:
    """``att`` itself when no weight is negative (attention weights are probabilities)."""
    if att.low < 0:
        raise ValueError(f"{name}: attention weights must be >= 0, found {att.low}")
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
        raise TypeError(
            f"{name}: expected a sequence of token strings, got {type(tokens).__name__}"
        )
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


def query_key_labels(
    tokens: object, key_tokens: object, lq: int, lk: int
) -> tuple[list[str], list[str]]:
    """Labels of the queries and keys; ``key_tokens`` defaults to ``tokens`` for self attention
    and must be given for cross attention (Lq != Lk) when ``tokens`` is."""
    queries = token_labels(tokens, lq, "tokens", "Lq (axis -2)")
    if key_tokens is None:
        if tokens is not None and lq != lk:
            raise ValueError(
                f"key_tokens: needed for cross attention (Lq = {lq} queries, Lk = {lk} keys)"
            )
        return queries, (queries if lq == lk else token_labels(None, lk, "key_tokens", ""))
    return queries, token_labels(key_tokens, lk, "key_tokens", "Lk (axis -1)")
