"""Carlini-Wagner minimal perturbations per state on this machine: paperlib vs ART's CarliniLInfMethod.

Same network (a random dueling Nature-CNN unless --agent is given) and the same real Atari states. paperlib
attacks all --states in one batch (the Fourier notebook attacks its 50 states per agent this way); ART
(adversarial-robustness-toolbox, a benchmark-only dependency) runs at its defaults, one state at a time, on
the first --art-states of them, treating the Q-values as logits (its untargeted attack changes the greedy
action). Both are warmed up once, then timed --repeats times, interleaved, so that a burst of load on the
shared machine hits both (benchmarks/timing.py); the speed-up is the ratio of the median times. Reported
for both: seconds per state (median and range), the fraction of states whose greedy action changed (any
size), the success rate at ||d||_inf < 1/255 (action changed and bound held, re-checked here), and the
median l-inf (in grey levels) and L2 norm of the action-changing perturbations (both methods are
deterministic, so these do not depend on the repeat).

Usage: python benchmarks/cw_speed.py [--states 50] [--art-states 3] [--repeats 3] [--threads 1] [--agent STEM]
"""
from __future__ import annotations

import argparse
import statistics

import torch

from benchmarks.feature_map_speed import sample_states
from benchmarks.timing import describe, machine, time_interleaved
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
    parser.add_argument("--states", type=int, default=50, help="states for paperlib (one batch)")
    parser.add_argument("--art-states", type=int, default=3, help="states for ART (the first of the same states)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each method, interleaved")
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
    attacks = {"paperlib": lambda: states + carlini_wagner(network, states, CWConfig()).perturbation,
               "ART CarliniLInf": lambda: art_attack(network, subset, n_actions)}
    seconds, adversarial = time_interleaved(attacks, args.repeats)
    art_median = statistics.median(seconds["ART CarliniLInf"]) / len(subset)
    print(f"{game}, {args.repeats} repeats; {machine()}")
    print(f"{'method':18s} {'states':>6s} {'s/state (range)':>22s} {'speed-up':>8s} {'changed':>8s} "
          f"{'success@1/255':>14s} {'median linf x255':>17s} {'median L2':>10s}")
    rows = [("paperlib", states, adversarial["paperlib"], seconds["paperlib"], len(states)),
            (f"  same {len(subset)} as ART", subset, adversarial["paperlib"][: len(subset)], seconds["paperlib"],
             len(states)),
            ("ART CarliniLInf", subset, adversarial["ART CarliniLInf"], seconds["ART CarliniLInf"], len(subset))]
    for label, clean, perturbed, times, count in rows:
        changed, success, linf, l2 = summarise(network, clean, perturbed)
        speed_up = art_median / (statistics.median(times) / count)
        print(f"{label:18s} {len(clean):6d} {describe(times, count):>22s} {speed_up:7.1f}x {changed:8.2f} "
              f"{success:14.2f} {linf:17.3f} {l2:10.4f}")


if __name__ == "__main__":
    main()
