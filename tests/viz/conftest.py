"""Fixtures of the viz tests: matplotlib on the Agg backend, every figure closed afterwards,
and attention weights in each accepted layout."""

import numpy as np
import pytest


@pytest.fixture
def plt():
    """matplotlib.pyplot on Agg (skipped without matplotlib); closes the test's figures."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture
def model_weights(rng):
    """(layers, H, Lq, Lk) = (2, 3, 5, 5) float32 rows of probabilities."""
    return softmax_rows(rng.standard_normal((2, 3, 5, 5))).astype(np.float32)
