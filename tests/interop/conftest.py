"""Shared by the interop tests: they skip cleanly without torch, and run torch on one thread
(the modules are tiny: one thread is fastest, and an OpenMP team on a busy machine spins)."""

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
