"""Shared by the interop tests: torch runs on one thread (the modules are tiny: one thread is
fastest, and an OpenMP team on a busy machine spins). Each test file skips without torch."""

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
