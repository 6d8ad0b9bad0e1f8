"""States for the analyses: observations from evaluation episodes of an agent, with a fixed seed.

Shared by the Fourier (Carlini-Wagner) and the KMAP/HMAP notebooks. The agent plays ``episodes``
greedy evaluation episodes in parallel (no training wrappers); every ``stride``-th observation of
each episode is kept, earliest first, until ``states`` are collected. Cached by agent sha256 and
the parameters.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from paperlib.agents import load_agent, read_card
from paperlib.cache import agent_cache_dir, cached
from paperlib.evaluate import play


@dataclass(frozen=True)
class StateSampling:
    """Which observations to analyse."""

    states: int = 50
    """Number of states per agent."""
    episodes: int = 2
    """Evaluation episodes the states are drawn from (played in parallel)."""
    stride: int = 25
    """Keep every ``stride``-th observation of each episode."""
    seed: int = 0
    """Environment seed."""
    max_frames: int = 108_000
    """Frame cap per episode."""

    def __post_init__(self) -> None:
        for name in ("states", "episodes", "stride", "max_frames"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass
class SampledStates:
    """Observations and where they came from."""

    obs: np.ndarray
    """uint8 (N, C, 84, 84)."""
    episode: np.ndarray
    """(N,) index of the episode."""
    step: np.ndarray
    """(N,) agent step within the episode."""


def sample_states(stem: str | Path, sampling: StateSampling = StateSampling()) -> SampledStates:
    """Observations from the agent's own evaluation episodes (cached); fewer than asked if the episodes end first."""
    card = read_card(stem)

    def compute() -> dict[str, np.ndarray]:
        network, _ = load_agent(stem)
        obs, episode, step = [], [], []
        for t, observations, active, _ in play(network, card.game, sampling.episodes, sampling.seed,
                                               frame_stack=card.frame_stack,
                                               max_frames_per_episode=sampling.max_frames):
            if t % sampling.stride == 0:
                for env in np.flatnonzero(active):
                    obs.append(observations[env])
                    episode.append(env)
                    step.append(t)
            if len(obs) >= sampling.states:
                break
        return {"obs": np.stack(obs[: sampling.states]), "episode": np.array(episode[: sampling.states]),
                "step": np.array(step[: sampling.states])}

    stored = cached("states", asdict(sampling), [card.sha256], compute, agent_cache_dir(stem))
    return SampledStates(stored["obs"], stored["episode"], stored["step"])
