"""Checkpoints of a running evaluation, so that one that takes hours can stop and continue later.

The emulators cannot be saved, but they need not be: the games are deterministic for a seed (no
sticky actions), so replaying the actions taken so far on freshly seeded emulators rebuilds them
exactly. A checkpoint therefore holds those actions, the states of the two random generators an
evaluation draws from (the attack's random starts, the exploration), and a digest of the
observations it had reached, which a resumed run compares after its replay.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from paperlib.atomic import atomic_path


class CheckpointError(RuntimeError):
    """A checkpoint file is unreadable, belongs to another evaluation, or does not replay here."""


def observation_digest(obs: np.ndarray, returns: list[float | None]) -> str:
    """sha256 of the observations and the returns so far (what a replay must arrive at)."""
    digest = hashlib.sha256(np.ascontiguousarray(obs).tobytes())
    digest.update(json.dumps(returns).encode())
    return digest.hexdigest()


@dataclass
class PlayCheckpoint:
    """Where an evaluation (:func:`paperlib.evaluate.play`) stands, before its next agent step."""

    episodes: int
    """Number of emulators (episodes) of the evaluation."""
    actions: list[np.ndarray] = field(default_factory=list)
    """Actions sent to the emulators so far, one (episodes,) array per agent step."""
    attack_rng: np.ndarray | None = None
    """uint8 state of the attack's torch generator (None before the first step)."""
    explore_rng: str | None = None
    """JSON of the exploration generator's numpy state (None before the first step)."""
    digest: str | None = None
    """:func:`observation_digest` of the observations and returns reached (None before the first step)."""

    capture: Callable[[], tuple[np.ndarray, str, str]] | None = field(default=None, repr=False, compare=False)
    """Set by the running evaluation: the current (attack_rng, explore_rng, digest), read by :meth:`save`."""

    @property
    def steps(self) -> int:
        """Agent steps taken so far."""
        return len(self.actions)

    def save(self, path: str | Path) -> None:
        """Write the checkpoint atomically as ``.npz`` (no pickled objects)."""
        if self.capture is not None:
            self.attack_rng, self.explore_rng, self.digest = self.capture()
        if self.digest is None:
            raise ValueError("nothing to save: the evaluation has not started")
        actions = np.stack(self.actions) if self.actions else np.zeros((0, self.episodes), dtype=np.uint8)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, actions=actions.astype(np.uint8), attack_rng=self.attack_rng,
                     explore_rng=np.array(self.explore_rng), digest=np.array(self.digest))

    @classmethod
    def load(cls, path: str | Path, episodes: int) -> PlayCheckpoint:
        """Read a checkpoint written by :meth:`save` for an evaluation of ``episodes`` episodes."""
        remedy = f"delete {path} to start the evaluation afresh"
        try:
            with np.load(path, allow_pickle=False) as stored:
                actions, attack_rng = stored["actions"], stored["attack_rng"]
                explore_rng, digest = str(stored["explore_rng"]), str(stored["digest"])
        except (OSError, ValueError, KeyError) as error:
            raise CheckpointError(f"cannot read the evaluation checkpoint {path} ({error}); {remedy}") from error
        if actions.ndim != 2 or actions.shape[1] != episodes:
            raise CheckpointError(f"the checkpoint {path} has actions of shape {actions.shape}, not (steps, "
                                  f"{episodes}); {remedy}")
        return cls(episodes, [row.astype(np.int64) for row in actions], attack_rng, explore_rng, digest)
