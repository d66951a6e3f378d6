"""Static pictures of attention matrices: one head, a layer's heads, a model's layers x heads."""

from __future__ import annotations

import math

from attnlab.viz._figure import (
    AXES_FRACTION,
    FONT_SIZE,
    checked_scale,
    draw_grid,
    pyplot,
    set_token_ticks,
    side_inches,
)
from attnlab.viz._inputs import attention, checked_index, nonempty, query_key_labels


def _pick(att, layer: object, head: object):
    """(the head's (Lq, Lk) matrix, its layer's name, its head index)."""
    layer = checked_index(layer, "layer", att.shape[0], "layers")
    head = checked_index(head, "head", att.shape[1], "H")
    return att.weights[layer, head], att.layer_names[layer], head % att.shape[1]


def heatmap(
    weights,
    tokens=None,
    key_tokens=None,
    *,
    ax=None,
    layer: int = 0,
    head: int = 0,
    cmap: str = "viridis",
    title: str | None = None,
    colorbar: bool = True,
    batch_index: int | None = None,
):
    """One head's weights as a heatmap: queries down the rows, keys along the columns.

    ``weights``: any accepted layout ((Lq, Lk), (H, Lq, Lk), (layers, H, Lq, Lk), a list of
    layers, a record); ``layer`` and ``head`` pick the head of a larger input. ``tokens`` label
    the queries and, for self attention, the keys; ``key_tokens`` the keys of cross attention.
    Labels are thinned so that they do not overlap. Draws into ``ax`` when given, else into a
    new figure sized for the token counts. Returns the Axes.
    """
    att = nonempty(attention(weights, batch_index=batch_index))
    matrix, layer_name, head = _pick(att, layer, head)
    queries, keys = query_key_labels(tokens, key_tokens, *matrix.shape)
    plt = pyplot("heatmap")
    if ax is None:
        width = side_inches(len(keys), per_item=0.22, lowest=3.0, highest=9.0)
        height = side_inches(len(queries), per_item=0.22, lowest=3.0, highest=9.0)
        _, ax = plt.subplots(
            figsize=(width + (1.6 if colorbar else 0.6), height + 0.8), layout="constrained"
        )
    width, height = (
        ax.get_position().width * ax.figure.get_figwidth(),
        ax.get_position().height * ax.figure.get_figheight(),
    )
    image = ax.imshow(matrix, cmap=cmap, aspect="auto", interpolation="nearest")
    set_token_ticks(ax, queries, keys, width, height)
    ax.set_xlabel("key", fontsize=FONT_SIZE)
    ax.set_ylabel("query", fontsize=FONT_SIZE)
    ax.set_title(
        f"{layer_name}, head {head}" if title is None else title,
        fontsize=FONT_SIZE + 1,
        parse_math=False,
    )
    if colorbar:
        ax.figure.colorbar(image, ax=ax).ax.tick_params(labelsize=FONT_SIZE)
    return ax


def _grid(plt, rows: int, cols: int, panel: float, title: str):
    figure, axes = plt.subplots(
        rows,
        cols,
        figsize=(cols * panel + 1.2, rows * panel + 0.8),
        squeeze=False,
        layout="constrained",
    )
    figure.suptitle(title, fontsize=FONT_SIZE + 2, parse_math=False)
    return figure, axes


def heads(
    layer_weights,
    tokens=None,
    key_tokens=None,
    *,
    layer: int = 0,
    cols: int | None = None,
    cmap: str = "viridis",
    batch_index: int | None = None,
):
    """A grid of one layer's heads on a shared colour scale; returns the Figure.

    ``layer_weights``: (H, Lq, Lk) or any accepted layout (``layer`` picks the layer). Token
    labels on the outer panels only, thinned to the panel size.
    """
    att = nonempty(attention(layer_weights, "layer_weights", batch_index=batch_index))
    layer = checked_index(layer, "layer", att.shape[0], "layers")
    matrices = att.weights[layer]
    count, lq, lk = matrices.shape
    queries, keys = query_key_labels(tokens, key_tokens, lq, lk)
    cols = min(count, 4) if cols is None else checked_index(cols, "cols", count + 1, "H + 1")
    if cols < 1:
        raise ValueError(f"cols: expected an int >= 1, got {cols}")
    rows = math.ceil(count / cols)
    # Up to 20 tokens every one gets its label; beyond, labels are thinned to fit.
    panel = side_inches(max(lq, lk), per_item=0.19, lowest=2.2, highest=5.0)
    plt = pyplot("heads")
    figure, axes = _grid(plt, rows, cols, panel, att.layer_names[layer])
    top = float(matrices.max())
    for i, ax in enumerate(axes.flat):
        if i >= count:
            ax.set_axis_off()
            continue
        image = ax.imshow(
            matrices[i], cmap=cmap, vmin=0.0, vmax=top, aspect="auto", interpolation="nearest"
        )
        inches = panel * AXES_FRACTION
        set_token_ticks(
            ax, queries, keys, inches, inches, show_x=i >= count - cols, show_y=i % cols == 0
        )
        ax.set_title(f"head {i}", fontsize=FONT_SIZE + 1)
    figure.colorbar(image, ax=axes, shrink=0.6).ax.tick_params(labelsize=FONT_SIZE)
    return figure


def layers(
    model_weights, *, cmap: str = "viridis", scale: str = "absolute", batch_index: int | None = None
):
    """An overview of every head: layers down the rows, heads along the columns, with a
    colour bar; returns the Figure.

    ``scale``: "absolute" (the default) colours every panel by the weight itself, so that a
    diffuse head looks pale; "head" by the weight over the panel's strongest (each head's
    pattern, whatever its magnitude); "row" over each query's strongest.
    """
    att = nonempty(attention(model_weights, "model_weights", batch_index=batch_index))
    scale = checked_scale(scale)
    count, per_layer = att.shape[:2]
    panel = min(2.0, max(0.8, 14.0 / max(count, per_layer)))
    plt = pyplot("layers")
    figure = plt.figure(
        figsize=(per_layer * panel + 1.8, count * panel + 0.8), layout="constrained"
    )
    title = "attention: layers x heads" + (f" ({att.batch_note})" if att.batch_note else "")
    draw_grid(figure, att.weights, att.layer_names, cmap=cmap, scale=scale, title=title)
    return figure
