"""Attention weights for the viz tests: rows of probabilities made from random scores."""

import numpy as np


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
