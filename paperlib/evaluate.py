"""Evaluation of an agent: unclipped returns over N episodes without training wrappers.

The paper's protocol: 10 episodes, each with up to 30 no-op starts and at most 108k frames.
Every episode is played by its own emulator, so the result does not favour short episodes.
An evaluation can keep a checkpoint (:mod:`paperlib.play_checkpoint`) and stop after a given time;
run again, it continues exactly where it stopped (the result is the same as without a stop).
"""
from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from time import monotonic
from typing import Iterator

import numpy as np
import torch

from paperlib.agents import AgentFileError, Evaluation, load_agent, read_card
from paperlib.atomic import write_json
from paperlib.attacks import AttackSpec, pgd_attack
from paperlib.cache import agent_cache_dir, cached, copy_agent_entries, partial_path
from paperlib.envs import AtariEnvs, EnvConfig
from paperlib.games import get_game
from paperlib.networks import build_network
from paperlib.play_checkpoint import CheckpointError, PlayCheckpoint, observation_digest
from paperlib.preprocess import to_network_input
from paperlib.progress import Progress
from paperlib.stop_signals import StopSignals


CHECKPOINT_SECONDS = 600.0
"""How often an evaluation with a checkpoint file saves its progress."""


class EvaluationPaused(RuntimeError):
    """An evaluation stopped at its time limit or by a stop signal; its checkpoint lets the same call continue it."""

    def __init__(self, path: Path, steps: int) -> None:
        super().__init__(f"evaluation paused after {steps} agent steps; its checkpoint is {path}: "
                         "run the same evaluation again to continue it")
        self.path, self.steps = path, steps


def play(network: torch.nn.Module, game: str, episodes: int, seed: int = 0, epsilon: float = 0.0,
         frame_stack: int = 1, max_frames_per_episode: int = 108_000, attack: AttackSpec | None = None,
         checkpoint: PlayCheckpoint | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray, list[float | None]]]:
    """Play one episode per emulator with an epsilon-greedy policy (PGD-attacked observations with ``attack``).

    Before every step yields (t, observations uint8 (episodes, C, 84, 84), mask of the emulators whose
    first episode is still running, returns so far: None until an episode ends). Stops when all ended.
    With ``checkpoint``, first replays the actions it holds (continuing where it stopped), then records
    every action in it; saved at a yield, it holds everything needed to continue from there.
    """
    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
    if checkpoint is not None and checkpoint.episodes != episodes:
        raise ValueError(f"the checkpoint is for {checkpoint.episodes} episodes, not {episodes}")
    device = next(network.parameters()).device
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    returns: list[float | None] = [None] * episodes
    config = EnvConfig(game, num_envs=episodes, frame_stack=frame_stack, max_frames_per_episode=max_frames_per_episode)
    with AtariEnvs(config) as envs, torch.no_grad():
        obs = envs.reset(seed=seed)
        t = 0
        if checkpoint is not None and checkpoint.steps:
            for actions in checkpoint.actions:
                obs = _advance(envs, actions, returns)
            if observation_digest(obs, returns) != checkpoint.digest:
                raise CheckpointError(f"replaying the checkpoint's {checkpoint.steps} steps did not reach the state it "
                                      "recorded (another ale-py or game version?); delete it to start afresh")
            generator.set_state(torch.from_numpy(checkpoint.attack_rng))
            rng.bit_generator.state = json.loads(checkpoint.explore_rng)
            t = checkpoint.steps
        while any(r is None for r in returns):
            active = np.array([r is None for r in returns])
            if checkpoint is not None:  # what a save at this step records, read only when it saves
                checkpoint.capture = lambda now=obs: (generator.get_state().numpy(),
                                                      json.dumps(rng.bit_generator.state), observation_digest(now, returns))
            yield t, obs, active, returns
            states = to_network_input(obs[active], device)
            if attack is not None:
                with torch.enable_grad():
                    states = pgd_attack(network, states, attack.eps, attack.steps, generator)
            greedy = np.zeros(episodes, dtype=np.int64)
            greedy[active] = network(states).argmax(dim=1).cpu().numpy()
            explore = rng.random(episodes) < epsilon
            actions = np.where(explore, rng.integers(0, envs.n_actions, episodes), greedy)
            if checkpoint is not None:
                checkpoint.actions.append(actions)
            obs = _advance(envs, actions, returns)
            t += 1


def _advance(envs: AtariEnvs, actions: np.ndarray, returns: list[float | None]) -> np.ndarray:
    """One agent step; fills in ``returns`` of the emulators whose first episode ends. Returns the observations."""
    step = envs.step(actions)
    finished = iter(step.finished)
    for env in np.flatnonzero(step.episode_end):
        episode_return, _ = next(finished)
        if returns[env] is None:
            returns[env] = episode_return
    return step.obs


def evaluate_network(network: torch.nn.Module, game: str, episodes: int = 10, seed: int = 0, epsilon: float = 0.0,
                     frame_stack: int = 1, max_frames_per_episode: int = 108_000, progress: bool = True,
                     attack: AttackSpec | None = None, checkpoint_path: Path | None = None,
                     stop_after_seconds: float | None = None) -> Evaluation:
    """Play ``episodes`` episodes (see :func:`play`) and summarise their unclipped returns.

    With ``checkpoint_path``, continues from the checkpoint there if there is one and saves its progress
    there every :data:`CHECKPOINT_SECONDS`, and on SIGINT or SIGTERM saves and raises :class:`EvaluationPaused`;
    with ``stop_after_seconds`` too, it does the same once that much time has passed.
    """
    if stop_after_seconds is not None and (checkpoint_path is None or stop_after_seconds < 0):
        raise ValueError("stop_after_seconds needs a checkpoint_path and must be >= 0")
    checkpoint = None
    if checkpoint_path is not None:
        checkpoint_path = Path(checkpoint_path)
        exists = checkpoint_path.exists()
        checkpoint = PlayCheckpoint.load(checkpoint_path, episodes) if exists else PlayCheckpoint(episodes)
    label = attack.label if attack else "natural"
    bar = Progress(episodes, 0, f"evaluate {game} ({label})", enabled=progress, unit="episode")
    start = last_save = monotonic()
    returns: list[float | None] = []
    stop = StopSignals(f"the {game} evaluation")  # caught only while there is a checkpoint to save
    with stop if checkpoint is not None else nullcontext():
        for t, _, active, returns in play(network, game, episodes, seed, epsilon, frame_stack,  # noqa: B007
                                          max_frames_per_episode, attack, checkpoint):
            bar.update(int((~active).sum()), steps=t)
            if checkpoint is None:
                continue
            now = monotonic()
            if stop.requested or (stop_after_seconds is not None and now - start >= stop_after_seconds):
                checkpoint.save(checkpoint_path)
                bar.close()
                raise EvaluationPaused(checkpoint_path, t)
            if now - last_save >= CHECKPOINT_SECONDS:
                checkpoint.save(checkpoint_path)
                last_save = now
    bar.update(episodes)
    bar.close()
    return _summarise(np.array(returns, dtype=np.float64), seed, epsilon, attack)


def _summarise(returns: np.ndarray, seed: int, epsilon: float, attack: AttackSpec | None) -> Evaluation:
    return Evaluation(mean=float(returns.mean()), std=float(returns.std()), episodes=len(returns),
                      returns=[float(v) for v in returns], seed=seed, epsilon=epsilon,
                      attack=attack.label if attack else "none")


def copy_evaluations(source: str | Path, destination: str | Path) -> int:
    """Give the agent file ``destination``, a copy of ``source`` (same sha256), the evaluations cached for
    ``source``, so that they are not played again; returns how many were copied."""
    return copy_agent_entries("evaluation", read_card(source).sha256, agent_cache_dir(source),
                              agent_cache_dir(destination))


def evaluate_agent(stem, episodes: int = 10, seed: int = 0, epsilon: float = 0.0, max_frames_per_episode: int = 108_000,
                   progress: bool = True, attack: AttackSpec | None = None,
                   stop_after_seconds: float | None = None) -> Evaluation:
    """Evaluate an agent file, cached by its sha256 and the parameters (shared by the CLI and the notebooks).

    Cached in :func:`paperlib.cache.agent_cache_dir`, with a checkpoint beside the cache entry while it runs (see
    :func:`evaluate_network`); a call that was stopped (``stop_after_seconds``, or a killed process) continues from it.
    """
    card = read_card(stem)
    params = {"episodes": episodes, "seed": seed, "max_frames": max_frames_per_episode, "epsilon": epsilon}
    if attack is not None:
        params["attack"] = {"kind": "pgd", "eps": attack.eps, "steps": attack.steps}

    folder = agent_cache_dir(stem)
    checkpoint = partial_path("evaluation", params, [card.sha256], folder)

    about = checkpoint.with_suffix(".json")  # what the checkpoint belongs to, for a person looking at the folder

    def compute() -> dict[str, np.ndarray]:
        network, loaded = load_agent(stem)
        if loaded.sha256 != card.sha256:
            raise AgentFileError(f"{stem} was replaced since this evaluation began (sha256 {card.sha256[:12]}... "
                                 f"then, {loaded.sha256[:12]}... now); run it again")
        write_json(about, {"agent": str(stem), "agent_sha256": card.sha256, "params": params})
        result = evaluate_network(network, card.game, episodes, seed, epsilon, card.frame_stack,
                                  max_frames_per_episode, progress, attack, checkpoint, stop_after_seconds)
        return {"returns": np.array(result.returns)}

    stored = cached("evaluation", params, [card.sha256], compute, folder)
    checkpoint.unlink(missing_ok=True)
    about.unlink(missing_ok=True)
    return _summarise(stored["returns"], seed, epsilon, attack)


def evaluate_random_play(game: str, episodes: int = 10, seed: int = 0, frame_stack: int = 1,
                         max_frames_per_episode: int = 108_000, progress: bool = True) -> Evaluation:
    """Uniformly random actions (epsilon 1) under the evaluation protocol, cached per game: the score an agent has to
    beat to have learned anything. Every action is exploratory, so the network's choice is never used and any
    network gives the same returns; an attack on the observations cannot change them either."""
    spec = get_game(game)
    params = {"game": spec.name, "episodes": episodes, "seed": seed, "frame_stack": frame_stack,
              "max_frames": max_frames_per_episode}

    def compute() -> dict[str, np.ndarray]:
        network = build_network("nature", frame_stack, spec.n_actions)
        result = evaluate_network(network, spec.name, episodes, seed, 1.0, frame_stack, max_frames_per_episode,
                                  progress)
        return {"returns": np.array(result.returns)}

    return _summarise(cached("random_play", params, [], compute)["returns"], seed, 1.0, None)
