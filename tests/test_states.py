"""State sampling from an agent's evaluation episodes."""
import numpy as np
import pytest
import torch

from paperlib.agents import save_agent
from paperlib.networks import build_network
from paperlib.states import StateSampling, sample_states
from tests.test_agents import _card


def test_sampling_is_deterministic_strided_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    stem = tmp_path / "agent"
    save_agent(stem, build_network("nature", 1, 6), _card(network="nature"))
    sampling = StateSampling(states=7, episodes=2, stride=10, seed=3)
    first = sample_states(stem, sampling)
    assert first.obs.shape == (7, 1, 84, 84) and first.obs.dtype == np.uint8
    assert list(first.step) == [0, 0, 10, 10, 20, 20, 30] and list(first.episode) == [0, 1, 0, 1, 0, 1, 0]
    monkeypatch.setenv("PAPERLIB_CACHE_DIR", str(tmp_path / "other-cache"))  # recomputed from scratch
    again = sample_states(stem, sampling)
    np.testing.assert_array_equal(first.obs, again.obs)
    assert not np.array_equal(first.obs[2], first.obs[4])


def test_states_of_an_agent_outside_data_agents_are_cached_beside_it(tmp_path, monkeypatch):
    from paperlib import cache

    monkeypatch.delenv("PAPERLIB_CACHE_DIR", raising=False)
    monkeypatch.setattr(cache, "CACHE_DIR", tmp_path / "shipped-cache")
    stem = tmp_path / "my-agents" / "agent"
    save_agent(stem, build_network("nature", 1, 6), _card(network="nature"))
    sample_states(stem, StateSampling(states=2, episodes=1, stride=10, seed=3))
    assert len(list((stem.parent / "cache" / "states").glob("*.npz"))) == 1 and not (tmp_path / "shipped-cache").exists()


def test_bad_sampling_parameters():
    with pytest.raises(ValueError, match="states must be positive"):
        StateSampling(states=0)
    with pytest.raises(ValueError, match="stride must be positive"):
        StateSampling(stride=-1)
