import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
