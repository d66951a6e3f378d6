"""Dropout: zeroes activations with probability p while training."""

from __future__ import annotations

from attnlab.functional import dropout
from attnlab.functional.dropout import _probability
from attnlab.nn.module import Module
from attnlab.tensor import Tensor


class Dropout(Module):
    """As torch.nn.Dropout: identity in eval mode; each training call draws a fresh seed from
    ``al.manual_seed``'s generator."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _probability(p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        return dropout(x, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
