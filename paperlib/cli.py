"""The ``paperlib`` command: train, evaluate, list agents, reproduce the book's notebooks."""
from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction
from pathlib import Path

from paperlib.configdoc import add_config_options, config_from_args

PAUSED_EXIT_CODE = 3
"""Exit status of ``paperlib evaluate`` when it stopped before the evaluation finished (``--max-minutes``,
Ctrl-C or SIGTERM), its checkpoint saved."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _fraction(text: str, allow_zero: bool) -> float:
    """A number written as a decimal or a fraction (``1/255``) in [0, 1], or (0, 1] without ``allow_zero``."""
    value = float(Fraction(text))
    above_low_end = value >= 0.0 if allow_zero else value > 0.0
    if not above_low_end or value > 1.0:
        raise argparse.ArgumentTypeError(f"must lie in {'[' if allow_zero else '('}0, 1], got {text}")
    return value


def _probability(text: str) -> float:
    return _fraction(text, allow_zero=True)


def _fraction_positive(text: str) -> float:
    return _fraction(text, allow_zero=False)


def _cmd_train(args: argparse.Namespace) -> None:
    from paperlib.ddqn import DDQNConfig, DDQNTrainer

    run_dir = Path(args.run_dir) if args.run_dir else None
    base = None
    if args.resume:
        if run_dir is None:
            raise SystemExit("--resume needs --run-dir (the folder of the run to continue)")
        config_path = run_dir / "config.json"
        if not config_path.exists():
            raise SystemExit(f"cannot resume: {config_path} not found; start a new run without --resume")
        base = json.loads(config_path.read_text())
    elif not hasattr(args, "game"):
        raise SystemExit("--game is required for a new run (e.g. --game pong)")
    config = config_from_args(DDQNConfig, args, base)
    run_dir = run_dir or Path("runs") / f"{config.game.lower()}-{config.method}"
    trainer = DDQNTrainer(config, run_dir, resume=args.resume, agent_out=args.agent_out, device=args.device)
    card = trainer.train()
    print(f"agent written to {trainer.agent_out}.safetensors (+ .json): {card.env_steps} steps, {card.updates} updates, "
          f"{card.cpu_hours:.2f} CPU-hours")


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from paperlib.agents import add_robustness, load_agent, update_card
    from paperlib.attacks import AttackSpec
    from paperlib.evaluate import EvaluationPaused, evaluate_agent

    attack = AttackSpec(eps=args.eps, steps=args.steps) if args.attack == "pgd" else None
    _, card = load_agent(args.agent)  # checks hash and shapes before anything runs
    stop_after = None if args.max_minutes is None else args.max_minutes * 60
    try:
        result = evaluate_agent(args.agent, episodes=args.episodes, seed=args.seed, epsilon=args.epsilon,
                                attack=attack, stop_after_seconds=stop_after)
    except EvaluationPaused as paused:
        print(paused)
        raise SystemExit(PAUSED_EXIT_CODE) from None
    print(f"{card.game} {card.method} ({result.attack}): {result.mean:.2f} +- {result.std:.2f} over "
          f"{result.episodes} episodes (returns {result.returns})")
    if not args.dry_run:
        if attack is None:
            update_card(args.agent, evaluation=result, agent_sha256=card.sha256)
        else:  # merged into the card as it is now: another evaluation may have added its result meanwhile
            add_robustness(args.agent, attack.label, result, agent_sha256=card.sha256)
        print(f"evaluation written into {Path(args.agent).with_suffix('.json')}")


def _cmd_agents(args: argparse.Namespace) -> None:
    from paperlib.agents import list_agents, read_card

    stems = list_agents(args.dir)
    if not stems:
        print(f"no agents in {args.dir}; train one with `paperlib train --game pong`")
    for stem in stems:
        card = read_card(stem)
        score = f"{card.evaluation.mean:.1f} +- {card.evaluation.std:.1f}" if card.evaluation else "not evaluated"
        print(f"{stem.name:28s} {card.game:12s} {card.method:8s} {card.env_steps:>10d} steps  "
              f"{card.cpu_hours:6.2f} CPU-h  {score}")


def _cmd_campaign(args: argparse.Namespace) -> None:
    from paperlib.campaign import (TARGETS, campaign_status, missing_evaluations, next_target, promote_run,
                                   replaced_parent, run_campaign)

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.run_dir and not args.promote:
        raise SystemExit("--run-dir goes only with --promote AGENT (the agent whose run it is)")
    if args.promote:
        score, baseline, promoted = promote_run(args.promote, run_dir=args.run_dir)
        print(f"{args.promote}: {score:g} against {baseline:g}: {'promoted' if promoted else 'not promoted'}")
        return
    if args.status:
        for row in campaign_status():
            score = "-" if row["score"] is None else f"{row['score']:g}"
            print(f"{row['agent']:18s} {row['metric']:18s} score {score:>8s} / {row['minimum']:<7g} "
                  f"{'met' if row['met'] else 'open':5s} {row['env_steps']:>9d} steps {row['cpu_hours']:6.2f} CPU-h")
        missing = missing_evaluations()
        if missing:
            print("model cards still missing (evaluated first): "
                  + ", ".join(f"{target.stem} {attack.label}" for target, attack in missing))
        stale = [target.stem for target in TARGETS if replaced_parent(target)]
        if stale:
            print("fine-tuned from a vanilla agent since replaced (continued as they are; a fine-tune of the current "
                  "one is a separate run, see book/reproducing.md): " + ", ".join(stale))
        target = next_target()
        print(f"next to train: {target.stem if target else 'nothing, every target is met'}")
        return
    if args.hours is None:
        raise SystemExit("give --hours (wall time to train) or --status")
    run_campaign(args.hours, args.chunk_hours, only=args.agent, complete_cards_first=not args.skip_cards,
                 threads=args.threads or 0)


def _cmd_reproduce(args: argparse.Namespace) -> None:
    from paperlib.reproduce import load_notebook_specs, run_notebooks

    specs = load_notebook_specs()
    if args.list:
        for spec in specs:
            print(f"{spec.name:20s} {spec.title}")
        return
    run_notebooks(specs, quick=args.quick, only=args.only, output_dir=args.output_dir)


def build_parser() -> argparse.ArgumentParser:
    from paperlib.agents import AGENTS_DIR
    from paperlib.ddqn import DDQNConfig

    parser = argparse.ArgumentParser(prog="paperlib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a DDQN or SA-DDQN agent (resumable)",
                                description="Train a DDQN agent (--method sa-ddqn adds the SA-DQN regulariser). "
                                            "Ctrl-C checkpoints; --resume continues.")
    train.add_argument("--run-dir", help="folder of the run (default: runs/<game>-<method>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    train.add_argument("--agent-out", help="agent stem to (re)write at every checkpoint (default: <run-dir>/agent)")
    train.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    add_config_options(train, DDQNConfig)
    train.set_defaults(func=_cmd_train)

    evaluate = commands.add_parser("evaluate", help="evaluate an agent and record the result in its model card",
                                   description="Play N episodes (no training wrappers, 108k-frame cap) and record "
                                               "mean and std of the unclipped return in the model card.")
    evaluate.add_argument("--agent", required=True, help="agent stem, e.g. data/agents/pong-ddqn")
    evaluate.add_argument("--episodes", type=_positive_int, default=10, help="episodes (default: 10, as in the paper)")
    evaluate.add_argument("--seed", type=int, default=0, help="environment seed (default: 0)")
    evaluate.add_argument("--epsilon", type=_probability, default=0.0, help="exploration rate (default: 0, greedy)")
    evaluate.add_argument("--attack", choices=["none", "pgd"], default="none",
                          help="attack every observation with PGD (cross-entropy on the greedy action, random start)")
    evaluate.add_argument("--eps", type=_fraction_positive, default=1 / 255,
                          help="l-inf radius of the attack in [0, 1] pixel units, e.g. 1/255 (default)")
    evaluate.add_argument("--steps", type=_positive_int, default=10, help="PGD steps, step size eps/steps (default: 10)")
    evaluate.add_argument("--max-minutes", type=_positive_float, default=None,
                          help="stop after this many minutes, keeping a checkpoint in data/cache/evaluation/partial/ "
                               f"(exit status {PAUSED_EXIT_CODE}); the same command run again continues from it")
    evaluate.add_argument("--dry-run", action="store_true", help="print the result without writing the model card")
    evaluate.set_defaults(func=_cmd_evaluate)

    agents = commands.add_parser("agents", help="list agents and their scores")
    agents.add_argument("--dir", default=str(AGENTS_DIR), help="agents folder (default: data/agents)")
    agents.set_defaults(func=_cmd_agents)

    campaign = commands.add_parser("campaign", help="train whichever agent most needs it, for a given wall time",
                                   description="Train the compendium's agents in chunks: missing agents first (DDQN, "
                                               "then SA-DDQN fine-tuned from it; Pong, Freeway, RoadRunner, "
                                               "BankHeist), then those below their minimum; an agent whose chunk "
                                               "was not promoted lets the others go first. Each chunk resumes "
                                               "runs/<game>-<method> and copies the agent into data/agents only "
                                               "when it beats the one there (a missing agent: random play). "
                                               "Before each chunk it completes the model cards in data/agents "
                                               "(PGD-10 and PGD-50 at 1/255); an evaluation that reaches the "
                                               "deadline pauses and the next campaign continues it.")
    campaign.add_argument("--hours", type=_positive_float, help="wall time to spend")
    campaign.add_argument("--chunk-hours", type=_positive_float, default=1.0,
                          help="train one agent this long before evaluating and choosing again (default: 1)")
    campaign.add_argument("--agent", metavar="AGENT",
                          help="train only this agent, e.g. bankheist-ddqn (even one that meets its minimum; "
                               "promoted only if it improves), and complete only its model card")
    campaign.add_argument("--skip-cards", action="store_true",
                          help="train without first completing missing model-card evaluations (a PGD-50 one can take "
                               "hours); they stay missing until a campaign without this flag")
    campaign.add_argument("--threads", type=_positive_int,
                          help="torch threads for training and evaluation (default: what the run or model card recorded, "
                               "else torch's own choice)")
    campaign.add_argument("--status", action="store_true", help="print every agent's score and target and exit")
    campaign.add_argument("--promote", metavar="AGENT",
                          help="evaluate the agent of runs/AGENT (e.g. roadrunner-sa-ddqn, after a campaign stopped "
                               "during its evaluation), promote it if it beats data/agents/AGENT or random play (an SA-DDQN "
                               "agent under PGD-10, and not worse under PGD-50), exit")
    campaign.add_argument("--run-dir", type=Path,
                          help="with --promote: take the agent from this run folder instead of runs/AGENT (e.g. a "
                               "second run of that agent with another seed, from paperlib train --run-dir)")
    campaign.set_defaults(func=_cmd_campaign)

    reproduce = commands.add_parser("reproduce", help="execute the book's notebooks with papermill",
                                    description="Execute every notebook with its default (or quick) parameters; "
                                                "figures and tables go to data/results/, executed notebooks to book/executed/.")
    reproduce.add_argument("--quick", action="store_true", help="use the quick parameter sets (for CI)")
    reproduce.add_argument("--only", nargs="+", metavar="NAME", help="run only these notebooks")
    reproduce.add_argument("--list", action="store_true", help="list the notebooks and exit")
    reproduce.add_argument("--output-dir", type=Path, help="where executed notebooks go "
                                                           "(default: book/executed, or _build/quick/notebooks with --quick)")
    reproduce.set_defaults(func=_cmd_reproduce)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
