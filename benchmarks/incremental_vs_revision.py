"""The incremental ablation path of this working tree against the same path at a git revision, side by side.

For speed work on paperlib/ablation.py: the module as committed at --revision (default HEAD) is loaded next to the
working tree's, both run :func:`ablated_q_incremental` (Q up to a per-pixel constant, what KMAP and HMAP use) on the
same random-play states of each agent, timed interleaved (benchmarks/timing.py), and the ratio of the medians is
printed (above 1: the working tree is faster). Before timing, both Q-tables are compared bit for bit (full Q and
up to a shift); a change that moves a value is reported, not timed.

Usage: python -m benchmarks.incremental_vs_revision [--revision HEAD] [--threads 1] [--states 3] [--repeats 7]
       [--agents data/agents/pong-ddqn ...]
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import torch

from benchmarks.feature_map_speed import sample_states
from benchmarks.timing import machine, time_interleaved
from paperlib import ablation
from paperlib.agents import load_agent

DEFAULT_AGENTS = ["data/agents/pong-ddqn", "data/agents/bankheist-ddqn", "data/agents/freeway-sa-ddqn",
                  "data/agents/roadrunner-sa-ddqn"]


def ablation_at(revision: str, directory: Path) -> ModuleType:
    """paperlib/ablation.py as committed at ``revision``, imported under its own module name."""
    source = subprocess.run(["git", "show", f"{revision}:paperlib/ablation.py"], check=True, capture_output=True,
                            text=True).stdout
    path = directory / "ablation_at_revision.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("ablation_at_revision", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def first_difference(before: ModuleType, network: torch.nn.Module, states: torch.Tensor) -> str | None:
    """None if both versions give the same Q-values bit for bit on every state (full and up to a shift), else
    where they first differ."""
    for index, state in enumerate(states):
        for up_to_shift in (False, True):
            old = before.ablated_q_incremental(network, state, up_to_shift=up_to_shift)
            new = ablation.ablated_q_incremental(network, state, up_to_shift=up_to_shift)
            if not torch.equal(old, new):
                return (f"state {index}, up_to_shift={up_to_shift}: largest difference "
                        f"{float((old - new).abs().max()):.2e}")
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--revision", default="HEAD", help="git revision to compare with (default: HEAD)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--states", type=int, default=3, help="random-play states per agent (default: 3)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each version, interleaved (default: 7)")
    parser.add_argument("--agents", nargs="+", default=DEFAULT_AGENTS, help="agent stems (default: four agents)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as directory:
        before = ablation_at(args.revision, Path(directory))
        print(f"working tree against {args.revision}; {args.states} state(s) per agent, {args.repeats} repeats; "
              f"{machine()}")
        for agent in args.agents:
            network, card = load_agent(agent)
            states = sample_states(card.game, args.states)
            difference = first_difference(before, network, states)
            if difference is not None:
                print(f"{agent}: values differ from {args.revision} ({difference}); not timed")
                continue
            seconds, _ = time_interleaved(
                {name: lambda m=module, n=network, ss=states: [m.ablated_q_incremental(n, s, up_to_shift=True) for s in ss]
                 for name, module in (("revision", before), ("tree", ablation))}, args.repeats)
            revision, tree = (statistics.median(seconds[name]) / len(states) for name in ("revision", "tree"))
            print(f"{agent}: {args.revision} {revision * 1e3:.1f} ms/state, working tree {tree * 1e3:.1f} ms/state, "
                  f"{revision / tree:.3f}x; values identical")


if __name__ == "__main__":
    main()
