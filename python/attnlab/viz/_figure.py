"""What the static plots share: the lazy matplotlib import, figure sizes, thinned token labels
(drawn as they are: ``$`` is not mathematics), colour scales and the views' colour map."""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

from attnlab.viz._payload import top_of

FONT_SIZE = 8.0
_LABEL_PITCH = 1.35  # points of axis per point of font size that one tick label needs
AXES_FRACTION = 0.8  # of a grid panel's inches, what its axes get (the rest: title, labels)
INK = ((1.0, 1.0, 1.0), (8 / 255, 48 / 255, 107 / 255))
"""The HTML views' colours, white (0) to deep blue (the top weight), for their pictures."""


def pyplot(function: str) -> ModuleType:
    """matplotlib.pyplot, imported at call time so that ``import attnlab`` never needs it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            f"attnlab.viz.{function} needs matplotlib: pip install attnlab[viz]"
        ) from error
    return plt


def new_figure(function: str, width: float, height: float):
    """A matplotlib Figure of ``width`` x ``height`` inches that pyplot does not hold: a view's
    static picture is never shown twice by a notebook's inline backend, nor kept alive."""
    pyplot(function)  # the same clear error without matplotlib
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def ink_colormap():
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("attnlab_ink", INK)


def token_text(ax, x: float, y: float, text: str, **kwargs) -> None:
    """A token drawn as it is: ``$`` and backslashes are not read as mathematics."""
    ax.text(x, y, text, parse_math=False, fontsize=FONT_SIZE, **kwargs)


SCALE_LABELS = {
    "absolute": "attention weight",
    "row": "weight / its query's strongest",
    "head": "weight / the head's strongest",
}


def scaled(weights: np.ndarray, scale: str) -> tuple[np.ndarray, float]:
    """(values, the value drawn darkest) of (..., Lq, Lk) ``weights`` on ``scale``:
    "absolute" the weights themselves up to max(1, the largest); "row" each over its row's
    largest; "head" each matrix over its largest."""
    if scale == "absolute":
        return weights, top_of(weights)
    axes = -1 if scale == "row" else (-2, -1)
    reach = weights.max(axis=axes, keepdims=True)
    return np.divide(weights, reach, out=np.zeros(weights.shape), where=reach > 0), 1.0


def checked_scale(scale: object) -> str:
    """``scale``, one of SCALE_LABELS: how a view or plot maps a weight to a colour's strength
    ("absolute", the default everywhere, so that a diffuse head looks diffuse)."""
    if scale not in SCALE_LABELS:
        raise ValueError(f"scale: expected one of {tuple(SCALE_LABELS)}, got {scale!r}")
    return scale


def side_inches(count: int, *, per_item: float, lowest: float, highest: float) -> float:
    """An axis length that grows with ``count`` items, kept within [lowest, highest] inches."""
    return min(highest, max(lowest, per_item * count))


def label_stride(count: int, inches: float, font_size: float = FONT_SIZE) -> int:
    """Every how many items a tick label fits along ``inches`` without overlapping."""
    fits = max(1, int(inches * 72 / (font_size * _LABEL_PITCH)))
    return max(1, math.ceil(count / fits))


def set_token_ticks(
    ax,
    query_labels: list[str],
    key_labels: list[str],
    width: float,
    height: float,
    *,
    show_x: bool = True,
    show_y: bool = True,
) -> None:
    """Token labels on both axes of a heatmap of ``width`` x ``height`` inches, thinned to fit."""
    for show, labels, inches, set_ticks, set_labels in (
        (show_x, key_labels, width, ax.set_xticks, ax.set_xticklabels),
        (show_y, query_labels, height, ax.set_yticks, ax.set_yticklabels),
    ):
        if not show:
            set_ticks([])
            continue
        positions = list(range(0, len(labels), label_stride(len(labels), inches)))
        set_ticks(positions)
        set_labels([labels[i] for i in positions], fontsize=FONT_SIZE, parse_math=False)
    ax.tick_params(axis="x", labelrotation=90, length=2)
    ax.tick_params(axis="y", length=2)


ROW_NAME_CHARS = 18
"""A grid's row names wrap at this many characters a line."""


def wrapped_name(name: str, width: int, lines: int) -> str:
    """``name`` in at most ``lines`` lines of about ``width`` characters, broken after its dots
    (module paths); what does not fit goes from the front (the shared prefix), marked "…"."""
    parts, rows = [p + "." for p in name.split(".")], []
    parts[-1] = parts[-1][:-1]
    for part in parts:
        while len(part) > width:  # a part longer than a line is cut where the line ends
            rows.append(part[:width])
            part = part[width:]
        if rows and len(rows[-1]) + len(part) <= width:
            rows[-1] += part
        else:
            rows.append(part)
    if len(rows) > lines:
        rows = rows[-lines:]
        rows[0] = "…" + rows[0]
    return "\n".join(rows)


def draw_grid(
    figure, weights: np.ndarray, row_names: list[str], *, cmap, scale: str, title: str
) -> None:
    """``weights`` (rows, cols, Lq, Lk) as a grid of heatmaps (rows down, heads across) on
    one colour scale, with one colour bar saying what the colour is."""
    rows, cols = weights.shape[:2]
    values, top = scaled(weights, scale)
    axes = figure.subplots(rows, cols, squeeze=False)
    # row names across, wrapped to the lines a row's height holds: upright, a long module
    # name ran along its neighbours'
    lines = max(1, int(0.85 * figure.get_figheight() / rows * 72 / (1.25 * FONT_SIZE)))
    figure.suptitle(title, fontsize=FONT_SIZE + 2, parse_math=False)
    for (r, c), ax in np.ndenumerate(axes):
        image = ax.imshow(
            values[r, c], cmap=cmap, vmin=0.0, vmax=top, aspect="auto", interpolation="nearest"
        )
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title(f"head {c}", fontsize=FONT_SIZE)
        if c == 0:
            ax.set_ylabel(
                wrapped_name(row_names[r], ROW_NAME_CHARS, lines),
                fontsize=FONT_SIZE,
                parse_math=False,
                rotation=0,
                ha="right",
                va="center",
            )
    bar = figure.colorbar(image, ax=axes, shrink=0.8 if rows > 1 else 1.0)
    bar.ax.tick_params(labelsize=FONT_SIZE)
    bar.set_label(SCALE_LABELS[scale], fontsize=FONT_SIZE)
