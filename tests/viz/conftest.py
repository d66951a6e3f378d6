"""Fixtures of the viz tests: matplotlib on the Agg backend, every figure closed afterwards,
and attention weights in each accepted layout."""

import numpy as np
import pytest
from attention_samples import softmax_rows


@pytest.fixture
def plt():
    """matplotlib.pyplot on Agg (skipped without matplotlib); closes the test's figures."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


@pytest.fixture
def model_weights(rng):
    """(layers, H, Lq, Lk) = (2, 3, 5, 5) float32 rows of probabilities."""
    return softmax_rows(rng.standard_normal((2, 3, 5, 5))).astype(np.float32)
