"""A static picture of a training history: losses on one panel, every other metric on another."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from attnlab.viz._figure import FONT_SIZE, pyplot


def _number(x: object, where: str) -> float:
    if x is None:
        return math.nan  # a metric not measured at this step (test metrics every N steps)
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: expected a number, got {type(x).__name__}")
    return float(x)


def _pairs(series: Sequence, name: str) -> tuple[np.ndarray, np.ndarray]:
    steps, values = [], []
    for i, pair in enumerate(series):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"history[{name!r}][{i}]: expected a (step, value) pair, got {pair!r}")
        steps.append(_number(pair[0], f"history[{name!r}][{i}] step"))
        values.append(_number(pair[1], f"history[{name!r}][{i}] value"))
    return np.array(steps), np.array(values)


def series(history: object) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``history`` as name -> (steps, values) with the unmeasured (None/NaN) points dropped.

    Accepted: an object with ``to_dict()``; a mapping with a "step" key and series of the same
    length; a mapping of name -> list of (step, value) pairs.
    """
    if hasattr(history, "to_dict"):
        history = history.to_dict()
    if not isinstance(history, Mapping):
        raise TypeError(
            f"history: expected a mapping or an object with to_dict(), got {type(history).__name__}"
        )
    result = {}
    if "step" in history:
        steps = np.array(
            [_number(s, f"history['step'][{i}]") for i, s in enumerate(history["step"])]
        )
        for name, values in history.items():
            if name == "step":
                continue
            if len(values) != len(steps):
                raise ValueError(
                    f"history[{name!r}]: {len(values)} values, but history['step'] has {len(steps)}"
                )
            result[str(name)] = (
                steps,
                np.array([_number(v, f"history[{name!r}][{i}]") for i, v in enumerate(values)]),
            )
    else:
        result = {str(name): _pairs(values, str(name)) for name, values in history.items()}
    result = {name: (s[np.isfinite(v)], v[np.isfinite(v)]) for name, (s, v) in result.items()}
    if not any(len(v) for _, v in result.values()):
        raise ValueError("history: no series has a measured value")
    return result


def _is_rate(name: str) -> bool:
    return name == "lr" or name.endswith("_lr") or "learning_rate" in name


def curves(history, *, log_loss: bool | None = None):
    """Training curves; returns the Figure.

    Series whose name contains "loss" share the left panel (log scale when every value is > 0,
    unless ``log_loss`` says otherwise); the learning rate ("lr", "..._lr", "learning_rate")
    gets a panel of its own, so that its small values do not flatten against the others
    (accuracy, ...), which share the middle panel.
    """
    data = {n: d for n, d in series(history).items() if len(d[1])}
    losses = {n: d for n, d in data.items() if "loss" in n}
    rates = {n: d for n, d in data.items() if "loss" not in n and _is_rate(n)}
    others = {n: d for n, d in data.items() if n not in losses and n not in rates}
    panels = [p for p in ((losses, "loss"), (others, "value"), (rates, "learning rate")) if p[0]]
    plt = pyplot("curves")
    figure, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False, layout="constrained"
    )
    for ax, (group, ylabel) in zip(axes[0], panels):
        for name, (steps, values) in group.items():
            ax.plot(
                steps,
                values,
                label=name,
                marker="o" if len(values) < 30 else None,
                markersize=3,
                linewidth=1.2,
            )
        positive = all((v > 0).all() for _, v in group.values())
        if ylabel == "loss" and (positive if log_loss is None else log_loss):
            ax.set_yscale("log")
        ax.set_xlabel("step", fontsize=FONT_SIZE)
        ax.set_ylabel(ylabel, fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT_SIZE)
    return figure
