"""The transformer layers' shared parts: the feed-forward block (linear1, activation, dropout,
linear2), the LayerNorms and residual dropouts around each block, in torch's names and
registration order, the stacks' layer copies, and the check that layers are batch-first."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from attnlab import functional as F
from attnlab._allocation import reserve
from attnlab._validation import flag, positive, positive_int
from attnlab.nn.activation import GELU, ReLU
from attnlab.nn.container import ModuleList
from attnlab.nn.dropout import Dropout
from attnlab.nn.linear import Linear, features
from attnlab.nn.module import Module
from attnlab.nn.normalization import LayerNorm
from attnlab.tensor import Tensor

_ACTIVATIONS = ("relu", "gelu", "swiglu")


class SwiGLU(Module):
    """silu(gate) * value of x (..., 2F) = [gate | value]: the first F features (rows
    0..F-1 of the linear before it) are the gate, the last F the value (Shazeer 2020)."""

    def forward(self, x: Tensor) -> Tensor:
        half = x.shape[-1] // 2
        return F.silu(x[..., :half]) * x[..., half:]  # (..., F)


def activation_module(activation: str | Callable[[Tensor], Tensor]) -> Module | Callable:
    """A layer's ``activation`` argument as a module (strings) or the callable itself."""
    if activation == "relu":
        return ReLU()
    if activation == "gelu":
        return GELU()
    if activation == "swiglu":
        return SwiGLU()
    if isinstance(activation, str) or not callable(activation):
        raise ValueError(
            f"activation: expected one of {_ACTIVATIONS} or a callable, got {activation!r}"
        )
    return activation


def check_batch_first(batch_first: Any) -> None:
    if batch_first is not True:
        raise ValueError(
            "batch_first: attnlab is batch-first everywhere, (B, L, C); only "
            f"batch_first=True is accepted, got {batch_first!r} (transpose "
            "seq-first inputs with x.transpose(0, 1))"
        )


def add_feed_forward(
    layer: Module,
    blocks: int,
    d_model: int,
    dim_feedforward: int,
    dropout: float,
    activation: str | Callable,
    layer_norm_eps: float,
    norm_first: bool,
    bias: bool,
    dtype: Any,
) -> None:
    """Registers on ``layer``, as torch does after its attention: linear1, dropout, linear2,
    norm1..norm<blocks>, dropout1..dropout<blocks>, and sets norm_first and activation. For
    swiglu, linear1 gives 2 * dim_feedforward features, [gate | value]."""
    dim_feedforward = positive_int(dim_feedforward, "dim_feedforward")
    layer_norm_eps = positive(layer_norm_eps, "layer_norm_eps")
    swiglu = isinstance(activation, str) and activation == "swiglu"
    layer.linear1 = Linear(
        d_model, 2 * dim_feedforward if swiglu else dim_feedforward, bias, dtype=dtype
    )
    layer.dropout = Dropout(dropout)
    layer.linear2 = Linear(dim_feedforward, d_model, bias, dtype=dtype)
    layer.norm_first = flag(norm_first, "norm_first")
    for i in range(1, blocks + 1):
        setattr(layer, f"norm{i}", LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype))
    for i in range(1, blocks + 1):
        setattr(layer, f"dropout{i}", Dropout(dropout))
    layer.activation = activation_module(activation)


def feed_forward(layer: Module, x: Tensor) -> Tensor:
    """linear2(dropout(activation(linear1(x)))), torch's _ff_block without its last dropout."""
    return layer.linear2(layer.dropout(layer.activation(layer.linear1(x))))


def clones(layer: Module, num_layers: int, name: str) -> ModuleList:
    """``num_layers`` deep copies of ``layer`` (torch's _get_clones): each trains on its own."""
    if not isinstance(layer, Module):
        raise TypeError(f"{name}: expected a Module, got {type(layer).__name__}")
    num_layers = features(num_layers, "num_layers")
    shapes = [a.shape for a in (*layer.parameters(), *layer.buffers())]
    for _ in range(num_layers):
        reserve(*shapes, what=f"a copy of {name}")
    return ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
