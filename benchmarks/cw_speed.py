"""Carlini-Wagner minimal perturbations per state on this machine: paperlib vs ART's CarliniLInfMethod.

Same network (a random dueling Nature-CNN unless --agent is given) and the same real Atari states, one run.
ART (adversarial-robustness-toolbox, a benchmark-only dependency) runs at its defaults, one state at a
time, treating the Q-values as logits (its untargeted attack changes the greedy action). Reported for both:
seconds per state, the fraction of states whose greedy action changed (any size), the success rate at
||d||_inf < 1/255 (action changed and bound held, re-checked here), and the median l-inf (in grey levels)
and L2 norm of the action-changing perturbations.

Usage: python benchmarks/cw_speed.py [--states 8] [--art-states 3] [--threads 1] [--agent STEM]
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from benchmarks.feature_map_speed import sample_states
from paperlib.agents import load_agent
from paperlib.cw import CWConfig, carlini_wagner
from paperlib.networks import build_network

BOUND = 1 / 255


def summarise(network, states: torch.Tensor, perturbed: torch.Tensor) -> tuple[float, float, float, float]:
    """Changed fraction, success fraction at 1/255, median l-inf (x255) and L2 of the changing perturbations."""
    with torch.no_grad():
        changed = network(perturbed).argmax(1) != network(states).argmax(1)
    delta = (perturbed - states).flatten(1)
    linf, l2 = delta.abs().max(1).values, delta.norm(dim=1)
    success = changed & (linf < BOUND)
    rates = float(changed.float().mean()), float(success.float().mean())
    if not changed.any():
        return *rates, float("nan"), float("nan")
    return *rates, float(linf[changed].median() * 255), float(l2[changed].median())


def art_attack(network, states: torch.Tensor, n_actions: int) -> torch.Tensor:
    from art.attacks.evasion import CarliniLInfMethod
    from art.estimators.classification import PyTorchClassifier

    classifier = PyTorchClassifier(model=network, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(states.shape[1:]),
                                   nb_classes=n_actions, clip_values=(0.0, 1.0))
    attack = CarliniLInfMethod(classifier, verbose=False)
    return torch.from_numpy(attack.generate(states.numpy()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--states", type=int, default=8, help="states for paperlib (batched)")
    parser.add_argument("--art-states", type=int, default=3, help="states for ART (the first of the same states)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--agent", help="agent stem (default: a random dueling Nature-CNN on Pong)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.agent:
        network, card = load_agent(args.agent)
        game, n_actions = card.game, len(card.actions)
    else:
        torch.manual_seed(0)
        network, game, n_actions = build_network("dueling", 1, 6).eval(), "pong", 6
    states = sample_states(game, args.states)
    subset = states[: args.art_states]
    rows = []
    for label, config in (("paperlib (default)", CWConfig()),
                          ("paperlib (300x6 steps)", dataclasses.replace(CWConfig(), steps=300, search_steps=6))):
        start = time.perf_counter()
        result = carlini_wagner(network, states, config)
        seconds = (time.perf_counter() - start) / len(states)
        rows.append((label, len(states), seconds, *summarise(network, states, states + result.perturbation)))
        rows.append((f"  same {len(subset)} as ART", len(subset), seconds,
                     *summarise(network, subset, subset + result.perturbation[: len(subset)])))
    start = time.perf_counter()
    adversarial = art_attack(network, subset, n_actions)
    seconds = (time.perf_counter() - start) / len(subset)
    rows.append(("ART CarliniLInf", len(subset), seconds, *summarise(network, subset, adversarial)))
    art_seconds = rows[-1][2]
    print(f"{game}, {torch.get_num_threads()} thread(s), torch {torch.__version__}")
    print(f"{'method':22s} {'states':>6s} {'s/state':>8s} {'speed-up vs ART':>16s} {'changed':>8s} {'success@1/255':>14s} "
          f"{'median linf x255':>17s} {'median L2':>10s}")
    for label, count, sec, changed, success, linf, l2 in rows:
        print(f"{label:22s} {count:6d} {sec:8.3f} {art_seconds / sec:16.1f} {changed:8.2f} {success:14.2f} "
              f"{linf:17.3f} {l2:10.4f}")


if __name__ == "__main__":
    main()
