"""Generative tests run tiny models: one intra-op thread is faster than two on a shared, loaded CPU (thread
hand-offs cost more than the work), and it is restored afterwards for the rest of the suite."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
