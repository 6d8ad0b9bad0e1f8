"""Device choice: clear errors before any work, and maps from another device cached apart from the CPU's."""
import numpy as np
import pytest
import torch

from paperlib.ddqn import DDQNConfig, DDQNTrainer
from paperlib.devices import resolve_device
from paperlib.feature_report import agent_maps
from paperlib.states import StateSampling

NO_CUDA = not torch.cuda.is_available()


def test_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu" if NO_CUDA else "cuda")
    assert resolve_device("cuda:0", check_available=False) == torch.device("cuda:0")
    with pytest.raises(ValueError, match="unknown torch device 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(ValueError, match="'meta' is not supported"):
        resolve_device("meta")


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it():
    for name in ("cuda", "cuda:1"):
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device(name)


@pytest.mark.skipif(NO_CUDA, reason="needs CUDA")
def test_a_cuda_index_the_machine_lacks():
    with pytest.raises(ValueError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
def test_training_on_a_missing_device_fails_before_creating_the_run(tmp_path):
    with pytest.raises(ValueError, match="CUDA is not available"):
        DDQNTrainer(DDQNConfig(game="Pong"), tmp_path / "run", device="cuda")
    assert not (tmp_path / "run").exists()


def test_maps_on_another_device_are_cached_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_CACHE_DIR", str(tmp_path))
    sampling = StateSampling(states=2, episodes=1, stride=10, max_frames=200)
    on_cpu = agent_maps("data/agents/pong-ddqn", sampling, progress=False)
    stored = sorted(tmp_path.rglob("*"))
    assert agent_maps("data/agents/pong-ddqn", sampling, progress=False, device="cpu").kmap.tobytes() == \
        on_cpu.kmap.tobytes()
    assert sorted(tmp_path.rglob("*")) == stored  # device="cpu" is the default's cache entry, not a new one
    if NO_CUDA:
        with pytest.raises(ValueError, match="CUDA is not available"):
            agent_maps("data/agents/pong-ddqn", sampling, progress=False, device="cuda")
        assert sorted(tmp_path.rglob("*")) == stored  # nothing written
    else:
        on_cuda = agent_maps("data/agents/pong-ddqn", sampling, progress=False, device="cuda")
        np.testing.assert_allclose(on_cuda.hmap, on_cpu.hmap, rtol=1e-4, atol=1e-6)
        assert len(sorted(tmp_path.rglob("*"))) > len(stored)
