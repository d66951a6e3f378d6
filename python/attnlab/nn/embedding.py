"""Embedding: a lookup table of learned vectors, as torch.nn.Embedding."""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab._validation import index
from attnlab.functional import embedding
from attnlab.nn import init
from attnlab.nn.linear import features
from attnlab.nn.module import Module
from attnlab.nn.parameter import Parameter
from attnlab.tensor import Tensor


class Embedding(Module):
    """weight (num_embeddings, embedding_dim) ~ N(0, 1); the padding row starts at zero and
    gets no gradient."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.num_embeddings = features(num_embeddings, "num_embeddings")
        self.embedding_dim = features(embedding_dim, "embedding_dim")
        if padding_idx is not None:
            padding_idx = index(padding_idx, "padding_idx")
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"padding_idx: expected an int in [{-self.num_embeddings}, "
                    f"{self.num_embeddings}), got {padding_idx}"
                )
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = Parameter(init.empty((self.num_embeddings, self.embedding_dim), dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices: np.ndarray | Tensor) -> Tensor:  # (...) ints -> (..., D)
        return embedding(indices, self.weight, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
