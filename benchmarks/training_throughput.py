"""Training throughput on this machine, side by side with a plain single-environment gymnasium loop.

Measures, in one run:
  1. environment steps/s of a plain gymnasium loop (one emulator, AtariPreprocessing + SA-DQN crop,
     random actions) and of paperlib's vectorised AtariEnvs (same preprocessing, `--num-envs`);
  2. the DDQN trainer at its default settings (network, batch, train_every, num_envs, n-step):
     env steps/s and updates/s once updates run (warm-up without updates subtracted);
  3. the same for SA-DDQN with each bound of the regulariser (seed 001 Eq. 7): IBP, and PGD with the
     campaign's step count (the fine-tuning cost of the robust agents).
Prints the ratios. Timings on shared machines are noisy: compare ratios, not absolute numbers.

Usage: python benchmarks/training_throughput.py [--game pong] [--steps 4000] [--threads 2] [--sa-pgd-steps 3]
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import numpy as np
import torch

from paperlib.ddqn import DDQNConfig, DDQNTrainer
from paperlib.envs import AtariEnvs, EnvConfig, reference_env
from paperlib.games import get_game
from paperlib.preprocess import crop_frames


def plain_gymnasium_steps_per_second(game: str, steps: int) -> float:
    env = reference_env(game)
    shift = get_game(game).crop_shift
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        frame, _, terminated, truncated, _ = env.step(env.action_space.sample())
        crop_frames(frame, shift)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def vector_env_steps_per_second(game: str, steps: int, num_envs: int) -> float:
    rng = np.random.default_rng(0)
    with AtariEnvs(EnvConfig(game, num_envs=num_envs)) as envs:
        envs.reset(seed=0)
        start = time.perf_counter()
        for _ in range(steps // num_envs):
            envs.step(rng.integers(0, envs.n_actions, num_envs))
        return (steps // num_envs) * num_envs / (time.perf_counter() - start)


def trainer_seconds(config: DDQNConfig) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = DDQNTrainer(config, run_dir, progress=False)
        start = time.perf_counter()
        card = trainer.train()
        return time.perf_counter() - start, card.updates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", default="pong")
    parser.add_argument("--steps", type=int, default=4000, help="agent steps measured in each phase")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--sa-pgd-steps", type=int, default=3, help="PGD steps of the SA regulariser's PGD bound")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    defaults = DDQNConfig(game=args.game)

    plain = plain_gymnasium_steps_per_second(args.game, args.steps)
    vector = vector_env_steps_per_second(args.game, args.steps, defaults.num_envs)

    warmup = 2_000
    base = dataclasses.replace(defaults, learning_starts=warmup, buffer_size=max(warmup, 20_000),
                               checkpoint_every=10**9, torch_threads=args.threads)
    only_warmup, _ = trainer_seconds(dataclasses.replace(base, total_steps=warmup))
    variants = {"ddqn": {"method": "ddqn"},
                "sa-ddqn ibp": {"method": "sa-ddqn", "sa_bound": "ibp"},
                f"sa-ddqn pgd-{args.sa_pgd_steps}": {"method": "sa-ddqn", "sa_bound": "pgd",
                                                     "sa_pgd_steps": args.sa_pgd_steps}}
    rates = {}
    for name, overrides in variants.items():
        full, updates = trainer_seconds(dataclasses.replace(base, total_steps=warmup + args.steps, **overrides))
        rates[name] = (args.steps / (full - only_warmup), updates / (full - only_warmup))
    train_steps, updates_per_second = rates.pop("ddqn")

    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}, game {args.game}")
    print(f"plain gymnasium loop (1 env, same preprocessing): {plain:8.0f} env steps/s")
    print(f"paperlib AtariEnvs ({defaults.num_envs} envs):              {vector:8.0f} env steps/s  "
          f"(ratio {vector / plain:.2f}x)")
    print(f"DDQN trainer, default settings (batch {defaults.batch_size}, 1 update / {defaults.train_every} steps, "
          f"{defaults.network}):")
    print(f"  {train_steps:8.1f} env steps/s, {updates_per_second:6.1f} updates/s "
          f"(ratio to the plain env loop {train_steps / plain:.3f}x: learning dominates)")
    for name, (sa_steps, sa_updates) in rates.items():
        print(f"{name} trainer (kappa {defaults.sa_kappa}, radius ramping from 0), same settings:")
        print(f"  {sa_steps:8.1f} env steps/s, {sa_updates:6.1f} updates/s "
              f"(ratio to DDQN {sa_steps / train_steps:.2f}x)")


if __name__ == "__main__":
    main()
