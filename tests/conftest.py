"""Fixtures shared by the test modules (builders of tiny models and data are in helpers_tiny.py)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_thread():
    """One torch intra-op thread while a module's tests run. Tiny models on a shared, busy machine run many
    times faster on one thread than on contended ones, and a run compared with a killed subprocess (started
    with OMP_NUM_THREADS=1) must use the same thread count to give bit-identical CPU results."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
