"""Uniform uint8 replay buffer with n-step returns.

Transitions arrive one vectorised step at a time; :class:`ReplayBuffer` keeps, per
environment, the last ``n`` (observation, action, reward) triples and stores the n-step
transition (s_t, a_t, R_t = sum_{k<m} gamma^k r_{t+k}, s_{t+m}, done, gamma^m) once it is
complete, with m = n, or m < n when the chain is cut by a terminal state or an episode end.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class Batch:
    """A sampled minibatch (numpy arrays; observations uint8)."""

    obs: np.ndarray
    """(B, C, 84, 84) observations the actions were taken in."""
    actions: np.ndarray
    """(B,) actions taken."""
    returns: np.ndarray
    """(B,) discounted sum of the (clipped) rewards of up to n steps."""
    next_obs: np.ndarray
    """(B, C, 84, 84) observations n steps later (or where the episode ended), to bootstrap from."""
    dones: np.ndarray
    """(B,) 1.0 where a terminal came within the n steps (no bootstrap)."""
    discounts: np.ndarray
    """(B,) gamma to the power of the steps actually summed, the bootstrap's discount."""


class ReplayBuffer:
    """Circular buffer of n-step transitions; see the module docstring."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], num_envs: int, n_step: int, gamma: float) -> None:
        if capacity <= 0 or n_step <= 0 or num_envs <= 0:
            raise ValueError("capacity, n_step and num_envs must be positive")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
        self.capacity = capacity
        self.n_step = n_step
        self.gamma = gamma
        self.obs = np.zeros((capacity, *obs_shape), dtype=np.uint8)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=np.uint8)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.returns = np.zeros(capacity, dtype=np.float32)
        self.dones = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self._pending: list[deque] = [deque() for _ in range(num_envs)]
        self._cursor = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _store(self, pending: deque, next_obs: np.ndarray, done: bool) -> None:
        obs, action, _ = pending[0]
        rewards = [r for _, _, r in pending]
        i = self._cursor
        self.obs[i] = obs
        self.actions[i] = action
        self.returns[i] = sum(self.gamma**k * r for k, r in enumerate(rewards))
        self.next_obs[i] = next_obs
        self.dones[i] = float(done)
        self.discounts[i] = self.gamma ** len(rewards)
        self._cursor = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        pending.popleft()

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
            terminal: np.ndarray, episode_end: np.ndarray) -> None:
        """Add one vectorised step: arrays with a leading dimension of ``num_envs``."""
        for env, pending in enumerate(self._pending):
            pending.append((obs[env], int(actions[env]), float(rewards[env])))
            if terminal[env] or episode_end[env]:
                while pending:
                    self._store(pending, next_obs[env], bool(terminal[env]))
            elif len(pending) == self.n_step:
                self._store(pending, next_obs[env], False)

    def arrays(self) -> dict[str, np.ndarray]:
        """The stored transitions in slot order and the write cursor (for saving; chains still pending are left out)."""
        names = ("obs", "next_obs", "actions", "returns", "dones", "discounts")
        return {name: getattr(self, name)[: self.size] for name in names} | {"cursor": np.array([self._cursor])}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Refill the buffer from :meth:`arrays` of a buffer with the same capacity and observation shape."""
        size = len(arrays["actions"])
        if size > self.capacity or arrays["obs"].shape[1:] != self.obs.shape[1:]:
            raise ValueError(f"saved replay of {size} transitions of shape {arrays['obs'].shape[1:]} does not fit "
                             f"a buffer of {self.capacity} of shape {self.obs.shape[1:]}")
        for name, values in arrays.items():
            if name != "cursor":
                getattr(self, name)[:size] = values
        self.size, self._cursor = size, int(arrays["cursor"][0]) % self.capacity
        for pending in self._pending:
            pending.clear()

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Sample ``batch_size`` stored transitions uniformly with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = rng.integers(0, self.size, size=batch_size)
        return Batch(self.obs[idx], self.actions[idx], self.returns[idx], self.next_obs[idx],
                     self.dones[idx], self.discounts[idx])
