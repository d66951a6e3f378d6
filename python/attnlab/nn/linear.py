"""Linear and Identity."""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab._validation import flag, index
from attnlab.functional import linear
from attnlab.nn import init
from attnlab.nn.module import Module
from attnlab.nn.parameter import Parameter
from attnlab.tensor import Tensor


def features(n: object, name: str) -> int:
    n = index(n, name)
    if n < 0:
        raise ValueError(f"{name}: expected a size >= 0, got {n}")
    return n


class Linear(Module):
    """y = x @ weight.T + bias, weight (out_features, in_features) as in torch.nn.Linear."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, *, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        self.in_features = features(in_features, "in_features")
        self.out_features = features(out_features, "out_features")
        bias = flag(bias, "bias")
        self.weight = Parameter(init.empty((self.out_features, self.in_features), dtype))
        self.bias = Parameter(init.empty((self.out_features,), dtype)) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_linear_(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:  # (..., in) -> (..., out)
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Identity(Module):
    """Returns its input (a placeholder, e.g. for a disabled norm)."""

    def forward(self, x: Tensor) -> Tensor:
        return x
