"""Activation modules: ReLU, GELU, SiLU (the functional ops as layers)."""

from __future__ import annotations

from attnlab.functional import gelu, relu, silu
from attnlab.functional.activation import _gelu_kind
from attnlab.nn.module import Module
from attnlab.tensor import Tensor


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return relu(x)


class SiLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return silu(x)


class GELU(Module):
    """approximate="none" (erf) or "tanh", as torch.nn.GELU."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        _gelu_kind(approximate)
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"
