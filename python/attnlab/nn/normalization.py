"""LayerNorm and RMSNorm over the trailing ``normalized_shape`` axes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab._validation import flag, positive
from attnlab.functional import layer_norm, rms_norm
from attnlab.nn import init
from attnlab.nn.linear import features
from attnlab.nn.module import Module
from attnlab.nn.parameter import Parameter
from attnlab.tensor import Tensor


def _normalized(shape: int | Sequence[int]) -> tuple[int, ...]:
    dims = (shape,) if not isinstance(shape, (tuple, list)) else tuple(shape)
    return tuple(features(n, "normalized_shape") for n in dims)


class LayerNorm(Module):
    """As torch.nn.LayerNorm: weight 1 and bias 0, biased variance, eps 1e-5."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.normalized_shape = _normalized(normalized_shape)
        self.eps = positive(eps, "eps")
        self.elementwise_affine = flag(elementwise_affine, "elementwise_affine")
        bias = flag(bias, "bias")
        self.weight = (
            Parameter(init.empty(self.normalized_shape, dtype)) if elementwise_affine else None
        )
        self.bias = (
            Parameter(init.empty(self.normalized_shape, dtype))
            if elementwise_affine and bias
            else None
        )
        for name in ("weight", "bias"):
            if getattr(self, name) is None:
                self.register_parameter(name, None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class RMSNorm(Module):
    """As torch.nn.RMSNorm: x / sqrt(mean(x^2) + eps) * weight; eps None = the dtype's
    machine epsilon."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.normalized_shape = _normalized(normalized_shape)
        self.eps = None if eps is None else positive(eps, "eps")
        self.elementwise_affine = flag(elementwise_affine, "elementwise_affine")
        if elementwise_affine:
            self.weight = Parameter(init.empty(self.normalized_shape, dtype))
            init.ones_(self.weight)
        else:
            self.register_parameter("weight", None)

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
