"""What the static plots share: the lazy matplotlib import, figure sizes and thinned labels."""

from __future__ import annotations

import math
from types import ModuleType

FONT_SIZE = 8.0
_LABEL_PITCH = 1.6  # points of axis per point of font size that one tick label needs


def pyplot(function: str) -> ModuleType:
    """matplotlib.pyplot, imported at call time so that ``import attnlab`` never needs it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(f"attnlab.viz.{function} needs matplotlib: pip install attnlab[viz]") from error
    return plt


def side_inches(count: int, *, per_item: float, lowest: float, highest: float) -> float:
    """An axis length that grows with ``count`` items, kept within [lowest, highest] inches."""
    return min(highest, max(lowest, per_item * count))


def label_stride(count: int, inches: float, font_size: float = FONT_SIZE) -> int:
    """Every how many items a tick label fits along ``inches`` without overlapping."""
    fits = max(1, int(inches * 72 / (font_size * _LABEL_PITCH)))
    return max(1, math.ceil(count / fits))


def set_token_ticks(ax, query_labels: list[str], key_labels: list[str], width: float,
                    height: float, *, show_x: bool = True, show_y: bool = True) -> None:
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
        set_labels([labels[i] for i in positions], fontsize=FONT_SIZE)
    ax.tick_params(axis="x", labelrotation=90, length=2)
    ax.tick_params(axis="y", length=2)
