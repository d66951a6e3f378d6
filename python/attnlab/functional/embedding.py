"""Embedding lookup and T5's relative-position bias gather, with scatter-add backwards."""

from __future__ import annotations

import numpy as np

from attnlab import _core
from attnlab._memory import contiguous, empty
from attnlab._validation import expect_shape, float_array, index, int_array
from attnlab.autograd.function import Function
from attnlab.tensor import Tensor


def _padding(padding_idx: int | None, vocab: int) -> int:
    """padding_idx as a row in [0, vocab), or -1 for none (PyTorch allows negative indices)."""
    if padding_idx is None:
        return -1
    padding_idx = index(padding_idx, "padding_idx")
    if not -vocab <= padding_idx < vocab:
        raise ValueError(f"padding_idx: expected an int in [{-vocab}, {vocab}), got {padding_idx}")
    return padding_idx % vocab


def _weight(weight: np.ndarray, name: str = "weight") -> np.ndarray:
    weight = float_array(weight, name)
    if weight.ndim != 2:
        raise ValueError(
            f"{name}: expected 2 dimensions (num_embeddings, D), got shape {weight.shape}"
        )
    return weight


class _Embedding(Function):
    fresh_gradients = True

    def forward(ctx, weight, indices, *, padding_idx):
        ctx.weight, ctx.indices, ctx.padding_idx = weight, indices, padding_idx
        return embedding(indices, weight, padding_idx=padding_idx)

    def backward(ctx, g):
        return embedding_backward(g, ctx.indices, ctx.weight, padding_idx=ctx.padding_idx)


class _RelativePositionBias(Function):
    def forward(ctx, table, buckets):
        ctx.table, ctx.buckets = table, buckets
        return relative_position_bias(table, buckets)

    def backward(ctx, g):
        return relative_position_bias_backward(g, ctx.table, ctx.buckets)


def embedding(
    indices: np.ndarray, weight: np.ndarray, *, padding_idx: int | None = None
) -> np.ndarray:
    """weight[indices]: rows of weight (V, D) gathered to indices.shape + (D,).

    Indices must be integers in [0, V). ``padding_idx``'s row gets no gradient in
    :func:`embedding_backward` (as in PyTorch).
    """
    if isinstance(weight, Tensor) or isinstance(indices, Tensor):
        indices = indices.data if isinstance(indices, Tensor) else indices
        return _Embedding.apply(weight, indices, padding_idx=padding_idx)
    weight = _weight(weight)
    _padding(padding_idx, weight.shape[0])
    idx = int_array(indices, "indices")
    out = empty((idx.size, weight.shape[1]), dtype=weight.dtype)
    _core.embedding_forward(idx.reshape(-1), contiguous(weight), out=out)
    return out.reshape(idx.shape + (weight.shape[1],))


def embedding_backward(
    grad_out: np.ndarray, indices: np.ndarray, weight: np.ndarray, *, padding_idx: int | None = None
) -> np.ndarray:
    """dweight (V, D): each row the sum of grad_out's rows at the positions holding its index,
    added in position order (deterministic with repeated indices)."""
    weight = _weight(weight)
    pad = _padding(padding_idx, weight.shape[0])
    idx = int_array(indices, "indices")
    g = float_array(grad_out, "grad_out", like=weight, like_name="weight")
    expect_shape(g, "grad_out", idx.shape + (weight.shape[1],), "indices.shape + (D,)")
    dweight = empty(weight.shape, dtype=weight.dtype)
    _core.embedding_backward(
        contiguous(g).reshape(idx.size, weight.shape[1]),
        idx.reshape(-1),
        padding_idx=pad,
        dweight=dweight,
    )
    return dweight


def relative_position_bias(table: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """T5's learned relative-position bias: table (num_buckets, H) gathered at buckets
    (Lq, Lk), as (H, Lq, Lk) to pass as ``bias=`` to scaled_dot_product_attention."""
    if isinstance(table, Tensor) or isinstance(buckets, Tensor):
        buckets = buckets.data if isinstance(buckets, Tensor) else buckets
        return _RelativePositionBias.apply(table, buckets)
    table = _weight(table, "table")
    out = embedding(buckets, table)  # (Lq, Lk, H)
    return contiguous(np.moveaxis(out, -1, 0))


def relative_position_bias_backward(
    grad_out: np.ndarray, table: np.ndarray, buckets: np.ndarray
) -> np.ndarray:
    """dtable (num_buckets, H) from grad_out (H, Lq, Lk), summed per bucket."""
    table = _weight(table, "table")
    g = float_array(grad_out, "grad_out", like=table, like_name="table")
    if g.ndim != np.ndim(buckets) + 1:
        raise ValueError(f"grad_out: expected shape (H,) + buckets.shape, got {g.shape}")
    return embedding_backward(np.moveaxis(g, 0, -1), buckets, table)
