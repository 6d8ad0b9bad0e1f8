"""Atari environments with the SA-DQN preprocessing.

:class:`AtariEnvs` wraps ale-py's vectorised ``AtariVectorEnv`` (v4 semantics: no sticky
actions, frameskip 4 with a max-pool over the last two frames, up to 30 no-op starts, at
most 108k frames per episode), asks it for raw grayscale 210x160 frames and applies the
SA-DQN crop of :mod:`paperlib.preprocess`.

Training mode adds the usual DQN training wrappers: a lost life ends the bootstrap chain
(episodic life, without resetting the game), FIRE on reset where the game has it, and
rewards clipped to their sign. Evaluation mode has none of them. Episode returns are
always reported unclipped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from paperlib.games import GameSpec, get_game
from paperlib.preprocess import RAW_SHAPE, crop_frames


@dataclass(frozen=True)
class EnvConfig:
    """How to build the Atari environments."""

    game: str
    """Game name from :data:`paperlib.games.GAMES`."""
    num_envs: int = 1
    """Number of parallel emulators."""
    frame_stack: int = 1
    """Frames per observation (the SA-DQN agents use 1)."""
    training: bool = False
    """Add the training wrappers (episodic life, fire reset, reward clipping)."""
    noop_max: int = 30
    """Maximum number of no-op actions at the start of an episode."""
    max_frames_per_episode: int = 108_000
    """Episode truncation in emulator frames (108k = 30 minutes of play)."""
    num_threads: int = 0
    """Emulator threads (0: ale-py's default)."""

    def __post_init__(self) -> None:
        get_game(self.game)
        for name in ("num_envs", "frame_stack", "max_frames_per_episode"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.noop_max < 0:
            raise ValueError(f"noop_max must be >= 0, got {self.noop_max}")

    @property
    def spec(self) -> GameSpec:
        return get_game(self.game)


@dataclass
class Step:
    """What one vectorised step returns."""

    obs: np.ndarray
    """Observation to act on next, uint8 (N, C, 84, 84); the reset observation where an episode ended."""
    next_obs: np.ndarray
    """Observation reached by the action (the final one where an episode ended), for replay."""
    reward: np.ndarray
    """Reward for learning: sign-clipped in training mode, raw otherwise."""
    terminal: np.ndarray
    """No bootstrapping past this step: game over, or (training mode) a lost life."""
    episode_end: np.ndarray
    """The episode ended (game over or truncation) and the environment was reset."""
    finished: list[tuple[float, int]] = field(default_factory=list)
    """(unclipped return, length in agent steps) of every episode that ended at this step."""


class AtariEnvs:
    """A batch of preprocessed Atari games; see the module docstring for the semantics."""

    def __init__(self, config: EnvConfig) -> None:
        from ale_py.vector_env import AtariVectorEnv

        self.config = config
        self.spec = config.spec
        self._env = AtariVectorEnv(
            self.spec.rom,
            config.num_envs,
            num_threads=config.num_threads,
            max_num_frames_per_episode=config.max_frames_per_episode,
            repeat_action_probability=0.0,
            img_height=RAW_SHAPE[0],
            img_width=RAW_SHAPE[1],
            grayscale=True,
            stack_num=config.frame_stack,
            frameskip=4,
            maxpool=True,
            noop_max=config.noop_max,
            episodic_life=False,
            reward_clipping=False,
            use_fire_reset=config.training and self.spec.has_fire,
            autoreset_mode="SameStep",
        )
        n = config.num_envs
        self._returns = np.zeros(n)
        self._lengths = np.zeros(n, dtype=np.int64)
        self._lives = np.zeros(n, dtype=np.int64)

    @property
    def num_envs(self) -> int:
        return self.config.num_envs

    @property
    def n_actions(self) -> int:
        return self.spec.n_actions

    def _crop(self, raw: np.ndarray) -> np.ndarray:
        return crop_frames(raw, self.spec.crop_shift)

    def reset(self, seed: int) -> np.ndarray:
        """Reset every game; emulator ``i`` is seeded from ``seed`` and ``i``. Returns uint8 (N, C, 84, 84)."""
        raw, info = self._env.reset(seed=seed)
        self._returns[:] = 0
        self._lengths[:] = 0
        self._lives[:] = info["lives"]
        return self._crop(raw)

    def step(self, actions: np.ndarray) -> Step:
        """Advance every game by one agent step (4 frames)."""
        raw, reward, terminated, truncated, info = self._env.step(np.asarray(actions, dtype=np.int64))
        reward = reward.astype(np.float64)
        obs = self._crop(raw)
        episode_end = terminated | truncated
        next_obs = obs.copy()
        if episode_end.any():
            next_obs[episode_end] = self._crop(info["final_obs"][episode_end])
        self._returns += reward
        self._lengths += 1
        finished = [(float(self._returns[i]), int(self._lengths[i])) for i in np.flatnonzero(episode_end)]
        self._returns[episode_end] = 0
        self._lengths[episode_end] = 0
        terminal = terminated.copy()
        if self.config.training:
            lives = info["lives"]
            terminal |= (lives < self._lives) & ~episode_end
            reward = np.sign(reward)
        self._lives[:] = info["lives"]
        return Step(obs, next_obs, reward.astype(np.float32), terminal, episode_end, finished)

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> "AtariEnvs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def reference_env(game: str, noop_max: int = 30):
    """A plain single gymnasium environment with the same v4 semantics and raw grayscale frames.

    Used by the tests (the vectorised pipeline must match it frame for frame) and by the
    throughput benchmark (the baseline loop). Its observations still need :func:`crop_frames`.
    """
    import ale_py
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing

    gym.register_envs(ale_py)
    spec = get_game(game)
    env = gym.make(f"ALE/{spec.name}-v5", frameskip=1, repeat_action_probability=0.0, max_num_frames_per_episode=108_000)
    return AtariPreprocessing(env, noop_max=noop_max, frame_skip=4, screen_size=(RAW_SHAPE[1], RAW_SHAPE[0]))
