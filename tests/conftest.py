"""Shared fixtures.

Tests import the oracle as `from reference import ...`; this assumes pytest puts tests/ on
sys.path (pyproject: [tool.pytest.ini_options] pythonpath = ["tests"]; the default "prepend"
import mode does it too, because this conftest lives in tests/).

attnlab is imported lazily (only when a test asks for `arch`), so the oracle's own tests in
tests/test_reference.py run before the package is built.

Hypothesis profiles: "ci" (chosen when the environment variable CI is set, as .ci/run does)
replays the same examples on every run and keeps no database; "dev" (the default) draws fresh
examples and stores failing ones in .hypothesis/ so they are retried first next time.
HYPOTHESIS_PROFILE names a profile explicitly.
"""

import os

import numpy as np
import pytest
from hypothesis import settings

# Both from Hypothesis' own defaults: it loads a built-in "ci" profile whenever CI is defined.
settings.register_profile(
    "ci", settings.get_profile("default"), derandomize=True, database=None, print_blob=True
)
settings.register_profile("dev", settings.get_profile("default"), print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def pytest_configure(config):
    config.addinivalue_line("markers", "torch: needs PyTorch (skipped cleanly when absent)")


def pytest_runtest_setup(item):
    if item.get_closest_marker("torch") is not None:
        pytest.importorskip("torch")


def pytest_generate_tests(metafunc):
    # Parametrize over every arch this CPU can run, so each SIMD path and the baseline is tested.
    if "arch" in metafunc.fixturenames:
        import attnlab

        names = [str(name) for name in attnlab.arch.available()]
        assert names, "attnlab.arch.available() returned no architectures"
        metafunc.parametrize("arch", names, indirect=True, ids=names)


@pytest.fixture
def arch(request):
    """Run the test with kernels dispatched to `request.param` (an arch name)."""
    import attnlab

    with attnlab.arch.force(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def torch():
    """The torch module; the test is skipped (not failed) when PyTorch is not installed."""
    return pytest.importorskip("torch")


@pytest.fixture
def restore_threads():
    """Puts the pool size back after a test that changes it."""
    import attnlab

    before = attnlab.get_num_threads()
    yield
    attnlab.set_num_threads(before)
