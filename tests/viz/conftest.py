"""Fixtures of the viz tests: matplotlib on the Agg backend, every figure closed afterwards,
and attention weights in each accepted layout."""

import numpy as np
import pytest

from attention_samples import softmax_rows
from chromium import chromium_executable


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


@pytest.fixture
def payload():
    """What a View embeds for its script: ``payload(view)`` the data dict, ``payload.array(
    text, dtype)`` one of its base64 arrays decoded."""
    import base64
    import json

    class Payload:
        def __call__(self, view):
            return json.loads(view._data)

        @staticmethod
        def array(text, dtype):
            return np.frombuffer(base64.b64decode(text), dtype=dtype)

    return Payload()


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by playwright, shared by a test module."""
    executable = chromium_executable()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()
