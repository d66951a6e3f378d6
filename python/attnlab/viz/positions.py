"""A static picture of a positional encoding or bias: sinusoidal, RoPE angles, ALiBi, T5 buckets."""

from __future__ import annotations

import math

import numpy as np

from attnlab import functional as F
from attnlab._validation import index, positive
from attnlab.viz._figure import FONT_SIZE, label_stride, pyplot, side_inches

KINDS = ("sinusoidal", "rope", "alibi", "t5")


def rope_angles(length: int, dim: int, *, base: float = 10000.0) -> np.ndarray:
    """RoPE's rotation angles (length, dim // 2): position p times the inverse frequency
    base^(-2k / dim) of feature pair k, in float64 (as :func:`attnlab.functional.rope` uses)."""
    inv_freq = base ** (-np.arange(0, dim - dim % 2, 2, dtype=np.float64) / dim)
    return np.arange(length, dtype=np.float64)[:, None] * inv_freq[None, :]


def _kind_matrix(
    kind: str,
    length: int,
    dim: int,
    num_heads: int,
    head: int,
    base: float,
    num_buckets: int,
    max_distance: int,
    bidirectional: bool,
):
    """(matrix, colormap, title, x label, y label) of a named encoding."""
    if kind == "sinusoidal":
        return (
            F.sinusoidal_positional_encoding(length, dim, base=base, dtype=np.float64),
            "RdBu_r",
            f"sinusoidal encoding ({length} x {dim})",
            "feature",
            "position",
        )
    if kind == "rope":
        return (
            np.mod(rope_angles(length, dim, base=base), 2 * math.pi),
            "twilight",
            f"RoPE rotation angle mod 2\u03c0 (dim {dim}, base {base:g})",
            "feature pair",
            "position",
        )
    if kind == "alibi":
        if not 0 <= head < num_heads:
            raise ValueError(f"head: {head} is out of range for num_heads = {num_heads}")
        slope = F.alibi_slopes(num_heads)[head]
        return (
            F.alibi_bias(num_heads, length, length, dtype=np.float64)[head],
            "magma",
            f"ALiBi bias, head {head} of {num_heads} (slope {slope:.4g})",
            "key",
            "query",
        )
    return (
        F.relative_position_bucket(
            length,
            length,
            num_buckets=num_buckets,
            max_distance=max_distance,
            bidirectional=bidirectional,
        ),
        "tab20" if num_buckets <= 20 else "viridis",
        f"T5 relative-position buckets ({num_buckets}, max distance {max_distance})",
        "key",
        "query",
    )


def positional(
    kind_or_matrix="sinusoidal",
    *,
    length: int = 64,
    dim: int = 64,
    num_heads: int = 8,
    head: int = 0,
    base: float = 10000.0,
    num_buckets: int = 32,
    max_distance: int = 128,
    bidirectional: bool = True,
):
    """A positional encoding or bias as a heatmap with a colour bar; returns the Figure.

    ``kind_or_matrix``: "sinusoidal" (the (length, dim) table), "rope" (rotation angles of each
    position and feature pair, mod 2 pi), "alibi" (head ``head`` of ``num_heads``'s bias,
    length x length), "t5" (relative-position buckets, length x length), or any 2-d real
    array, drawn as it is.
    """
    if isinstance(kind_or_matrix, str):
        if kind_or_matrix not in KINDS:
            raise ValueError(
                f"kind_or_matrix: expected one of {KINDS} or a 2-d array, got {kind_or_matrix!r}"
            )
        length, dim, num_heads, head = (
            index(v, n)
            for v, n in ((length, "length"), (dim, "dim"), (num_heads, "num_heads"), (head, "head"))
        )
        if length < 1 or dim < 1:
            raise ValueError(f"length, dim: expected ints >= 1, got {length}, {dim}")
        matrix, cmap, title, xlabel, ylabel = _kind_matrix(
            kind_or_matrix,
            length,
            dim,
            num_heads,
            head,
            positive(base, "base"),
            num_buckets,
            max_distance,
            bidirectional,
        )
    else:
        matrix = (
            np.asarray(kind_or_matrix) if hasattr(kind_or_matrix, "__array__") else kind_or_matrix
        )
        if (
            not isinstance(matrix, np.ndarray)
            or matrix.dtype == np.bool_
            or not (
                np.issubdtype(matrix.dtype, np.floating) or np.issubdtype(matrix.dtype, np.integer)
            )
        ):
            raise TypeError(
                f"kind_or_matrix: expected a kind name or a real 2-d array, got "
                f"{getattr(matrix, 'dtype', type(matrix).__name__)}"
            )
        if matrix.ndim != 2 or 0 in matrix.shape:
            raise ValueError(
                f"kind_or_matrix: expected a non-empty 2-d array, got shape {matrix.shape}"
            )
        cmap, title, xlabel, ylabel = "viridis", "positional matrix", "column", "row"
    rows, cols = matrix.shape
    width = side_inches(cols, per_item=0.08, lowest=3.5, highest=9.0)
    height = side_inches(rows, per_item=0.08, lowest=3.0, highest=9.0)
    plt = pyplot("positional")
    figure, ax = plt.subplots(figsize=(width + 1.6, height + 0.9), layout="constrained")
    image = ax.imshow(matrix, cmap=cmap, aspect="auto", interpolation="nearest")
    for set_ticks, count, inches in ((ax.set_xticks, cols, width), (ax.set_yticks, rows, height)):
        set_ticks(range(0, count, label_stride(count, inches)))
    ax.tick_params(labelsize=FONT_SIZE, length=2)
    ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
    ax.set_ylabel(ylabel, fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    figure.colorbar(image, ax=ax).ax.tick_params(labelsize=FONT_SIZE)
    return figure
