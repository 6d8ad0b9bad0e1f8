"""Training campaign: train whichever agent most needs it, in resumable chunks, keeping the best.

The agents of the compendium and their minimum scores (issue "Trained agents for the paper")
are listed in :data:`TARGETS`, in work order: a game's vanilla DDQN agent comes before its
SA-DDQN agent, which is fine-tuned from it. Missing agents are trained first (every analysis of
their game waits for them), then those below their minimum (:func:`next_target`); an agent whose chunk
was not promoted lets every other agent that needs training go before its next chunk. Each chunk
resumes the agent's run in ``runs/<game>-<method>`` (or starts it; an agent in ``data/agents/`` whose
run folder is gone is continued from its model card), trains until the chunk's deadline, evaluates the
result (10 natural episodes; for SA-DDQN also PGD-10 at 1/255) and copies it into ``data/agents/`` only
if it scores better on its target metric than the agent already there or, for a missing agent, than
random play, and beats random play without an attack (an SA-DDQN agent must also not lose under PGD-50). An
SA-DDQN agent whose vanilla parent has since been replaced by a better agent is continued like any other
(:func:`replaced_parent` only reports it): two fine-tunes of the new BankHeist parent collapsed where continuing
the robust agent kept it (book/training.md, session 37).
Before any training, the campaign completes the model cards of the agents already in ``data/agents/``: each card
records the natural return and the returns under PGD-10 and PGD-50 at 1/255 (:data:`CARD_ATTACKS`), and a
promotion brings a card with only the first one or two. Such evaluations can take hours (attacked RoadRunner
episodes run to the frame cap); one that reaches the campaign's deadline is paused with its checkpoint, and the
next campaign continues it. Every evaluated chunk, promoted or not, adds a row to ``<agents dir>/campaign-log.csv``
(:func:`log_chunk`): the run folders are not committed, so the log is the record of what each chunk reached.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from paperlib.agents import add_robustness, agent_paths, read_card, update_card
from paperlib.atomic import atomic_path, write_text
from paperlib.attacks import AttackSpec
from paperlib.ddqn import DDQNConfig, DDQNTrainer, checkpoint_path
from paperlib.evaluate import EvaluationPaused, copy_evaluations, evaluate_agent, evaluate_random_play
from paperlib.paths import AGENTS_DIR, REPO_ROOT
from paperlib.provenance import git_commit

PGD10 = AttackSpec(eps=1 / 255, steps=10)
"""The attack of the SA-DQN robustness protocol."""
PGD50 = AttackSpec(eps=1 / 255, steps=50)
"""The stronger attack every model card also records; a robust candidate must not lose to the agent in place under it."""
CARD_ATTACKS = (PGD10, PGD50)
"""The attacked evaluations every model card records (issue "Trained agents for the paper")."""
LOG_NAME = "campaign-log.csv"
"""File in the agents folder where :func:`log_chunk` records every evaluated chunk."""
LOG_COLUMNS = ("time_utc", "agent", "agent_steps", "updates", "cpu_hours", "metric", "score", "to_beat", "natural",
               "random_play", "promoted", "sha256", "git_commit")
"""Columns of the campaign log, one row per evaluated chunk."""


@dataclass(frozen=True)
class Target:
    """One agent of the compendium and the score it must reach."""

    game: str
    """Game name."""
    method: str
    """``"ddqn"`` or ``"sa-ddqn"``."""
    minimum: float
    """Score to reach on ``metric``."""
    robust: bool
    """Score under PGD-10 at 1/255 (SA-DDQN) rather than the natural return."""
    sa_kappa: float = 0.005
    """Regulariser weight for SA-DDQN (SA-DQN configs)."""
    sa_eps_ramp_start: int = 20_000
    """SA-DDQN: agent step of the fine-tune at which the regulariser's radius starts growing from 0."""
    sa_eps_ramp_steps: int = 200_000
    """SA-DDQN: agent steps over which the radius grows to 1/255."""

    @property
    def stem(self) -> str:
        return f"{self.game.lower()}-{self.method}"

    @property
    def metric(self) -> str:
        return PGD10.label if self.robust else "natural"


TARGETS = (
    Target("Pong", "ddqn", 19, False),
    Target("Pong", "sa-ddqn", 19, True),
    Target("Freeway", "ddqn", 28, False),
    Target("Freeway", "sa-ddqn", 25, True),
    Target("RoadRunner", "ddqn", 15000, False),
    Target("RoadRunner", "sa-ddqn", 12000, True, sa_kappa=0.01),
    Target("BankHeist", "ddqn", 500, False),
    Target("BankHeist", "sa-ddqn", 400, True, sa_kappa=0.1, sa_eps_ramp_start=10_000, sa_eps_ramp_steps=50_000),
)
"""Work order and minimum scores (SA targets of RoadRunner and BankHeist: 80% of the vanilla minimum).
BankHeist SA-DDQN uses kappa 0.1 and a 50k-step radius ramp: fine-tuned from the 322 vanilla agent for 150k
agent steps, kappa 0.1 kept 210 under PGD-10 at 1/255 with seed 0 (294 natural; 282 of 292 at 193k steps) but
collapsed to 10 natural and attacked with seed 1; kappa 0.02 (the SA-DQN config) kept 20 and 10 (seeds 0 and 1),
and kappa 0.005 with the 200k-step ramp 4 to 18 over 59k to about 300k agent steps. Seed 1 also collapsed with a
100k ramp and with kappa 0.05; with hinge c = 0.1 instead of 1 it collapsed later, as the radius neared 1/255
(book/training.md, sessions 23, 24 and 34-36). Fine-tuned from the 369 vanilla agent, it collapsed with seeds 0 (at
onset) and 2 (as the radius neared 1/255; session 37). A collapsed fine-tune is never promoted: it must beat random
play and the agent in place."""

CAMPAIGN_TOTAL_STEPS = {"ddqn": 10_000_000, "sa-ddqn": 3_000_000}
"""Agent steps a campaign run may reach (its chunks are bounded by wall time): the least ``total_steps`` that
:func:`open_run` gives every run, new, resumed from its folder or continued from a model card, so that a run
or agent trained to a shorter ``total_steps`` (e.g. by ``paperlib train``) still trains on."""


def find_target(stem: str) -> Target:
    """The target of the agent ``stem`` (e.g. ``roadrunner-sa-ddqn``)."""
    target = next((target for target in TARGETS if target.stem == stem), None)
    if target is None:
        raise ValueError(f"unknown agent {stem!r}; choose one of {', '.join(t.stem for t in TARGETS)}")
    return target


def _has_agent(stem: Path) -> bool:
    """Whether an agent with a model card exists at ``stem``."""
    return agent_paths(stem)[1].exists()


def current_score(target: Target, agents_dir: Path = AGENTS_DIR) -> float | None:
    """The target metric recorded in the agent's model card, or None if there is no agent or no such evaluation."""
    if not _has_agent(agents_dir / target.stem):
        return None
    card = read_card(agents_dir / target.stem)
    evaluation = card.robustness.get(target.metric) if target.robust else card.evaluation
    return evaluation.mean if evaluation else None


def next_target(agents_dir: Path = AGENTS_DIR, not_promoted: str | None = None) -> Target | None:
    """The agent that most needs training next.

    A missing agent comes first, because every analysis of its game waits for it: vanilla agents before SA-DDQN
    agents (fine-tuned from their game's vanilla agent, so only once it exists), each in work order. Then,
    the first one in work order that is unevaluated or below its minimum. ``not_promoted``: the stem whose last
    chunk was not promoted; it waits behind every other agent that needs training, so that one agent that does
    not improve (BankHeist DDQN, no better than random play after 3 CPU-hours) cannot hold up all the others.
    """
    def exists(stem: str) -> bool:
        return _has_agent(agents_dir / stem)

    missing = [target for target in TARGETS if not exists(target.stem)
               and (target.method == "ddqn" or exists(f"{target.game.lower()}-ddqn"))]
    below = [target for target in TARGETS if exists(target.stem)
             and ((score := current_score(target, agents_dir)) is None or score < target.minimum)]
    queue = sorted(missing, key=lambda target: target.method != "ddqn") + below  # stable: work order within each
    queue.sort(key=lambda target: target.stem == not_promoted)
    return queue[0] if queue else None


def missing_evaluations(agents_dir: Path = AGENTS_DIR, only: str | None = None) -> list[tuple[Target, AttackSpec]]:
    """The evaluations that model cards in ``agents_dir`` still lack (:data:`CARD_ATTACKS`), in work order;
    ``only``: of that agent's card alone."""
    missing = []
    for target in TARGETS:
        if _has_agent(agents_dir / target.stem) and only in (None, target.stem):
            recorded = read_card(agents_dir / target.stem).robustness
            missing += [(target, attack) for attack in CARD_ATTACKS if attack.label not in recorded]
    return missing


def complete_cards(deadline: float, agents_dir: Path = AGENTS_DIR, episodes: int = 10, only: str | None = None) -> bool:
    """Run the evaluations of :func:`missing_evaluations` one after another, each written into its card as it ends,
    until none is left (returns True) or ``deadline`` (a ``time.time()``) or a stop signal pauses one (returns False;
    its checkpoint is kept, so the next call continues it)."""
    for target, attack in missing_evaluations(agents_dir, only):
        stem = agents_dir / target.stem
        print(f"campaign: completing the model card of {target.stem}: {attack.label}", flush=True)
        agent_sha256 = read_card(stem).sha256
        try:
            result = evaluate_agent(stem, episodes=episodes, attack=attack,
                                    stop_after_seconds=max(deadline - time.time(), 1.0))
        except EvaluationPaused as paused:
            print(f"campaign: {paused}", flush=True)
            return False
        add_robustness(stem, attack.label, result, agent_sha256=agent_sha256)
        print(f"campaign: {target.stem} scores {result.mean:g} under {attack.label}", flush=True)
    return True


def _old_parent_sha256(target: Target, fine_tuned_from: str, agents_dir: Path) -> str | None:
    """For an SA-DDQN ``target``, the sha256 in a ``stem@sha256`` origin (a card's ``fine_tuned_from``)
    if it names the game's vanilla agent in ``agents_dir`` but not its current weights; else None."""
    parent = agents_dir / f"{target.game.lower()}-ddqn"
    stem, _, sha256 = fine_tuned_from.rpartition("@")
    if target.method == "ddqn" or not stem or Path(stem).name != parent.name or not _has_agent(parent):
        return None
    return sha256 if sha256 != read_card(parent).sha256 else None


def replaced_parent(target: Target, agents_dir: Path = AGENTS_DIR) -> bool:
    """Whether the SA-DDQN agent of ``target`` in ``agents_dir`` was fine-tuned from a vanilla agent that has since
    been replaced by a better one (its card's ``fine_tuned_from`` names another sha256 than the parent's card), for
    ``campaign --status``. The campaign still continues it: a new fine-tune of the current parent is a separate run
    (``paperlib train --init-agent``), promoted with ``campaign --promote --run-dir`` if it scores better."""
    stem = agents_dir / target.stem
    return _has_agent(stem) and _old_parent_sha256(target, read_card(stem).fine_tuned_from, agents_dir) is not None


def _config_for(target: Target, agents_dir: Path) -> DDQNConfig:
    """A new run's configuration. An agent already in ``agents_dir`` (whose run folder is gone) is continued with
    the configuration recorded in its model card, from its agent-step count, so that its schedules (epsilon, the SA
    radius) carry on where they were; only its replay buffer and optimiser state are rebuilt, also for an SA-DDQN
    agent whose parent was replaced since (:func:`replaced_parent`)."""
    existing = agents_dir / target.stem
    if _has_agent(existing):
        recorded = read_card(existing).training_config
        return DDQNConfig(**{**recorded, "game": target.game, "init_agent": str(existing), "continue_agent": True})
    if target.method == "ddqn":
        # from scratch: exploratory actions repeated for zeta(2)-distributed durations (ez-greedy): purely random
        # play covers more of a game (Freeway: 8 one-step random episodes scored 0, runs of random actions 0 to
        # 21). Epsilon ends at 0.05 and the buffer holds 250k transitions: with epsilon 0.01 and 100k, the first
        # Freeway run fell from returns of 21 to 0-1 within 35k steps of epsilon reaching 0.01 and did not
        # recover (book/training.md). The Pong run predates this and keeps its own config.json
        return DDQNConfig(game=target.game, eps_decay_steps=100_000, eps_end=0.05, explore_zeta_mu=2.0,
                          buffer_size=250_000)
    parent = agents_dir / f"{target.game.lower()}-ddqn"
    if not _has_agent(parent):
        raise FileNotFoundError(f"SA-DDQN for {target.game} is fine-tuned from {parent}, which does not exist yet")
    # fine-tuning: the parent's policy is good, so explore little and start updating early. The inner maximum
    # is found by PGD: on the vanilla Pong agent the IBP bound is so loose (regulariser 11.7 at eps = 0.02/255,
    # regulariser gradient norm 4257 vs 0.47 for PGD) that an IBP fine-tune collapsed to one action
    # within 10k steps of the radius starting to grow (book/training.md)
    return DDQNConfig(game=target.game, method="sa-ddqn", init_agent=str(parent), eps_start=0.05, eps_end=0.01,
                      eps_decay_steps=50_000, learning_starts=10_000, sa_kappa=target.sa_kappa, sa_bound="pgd",
                      sa_pgd_steps=3, sa_eps_ramp_start=target.sa_eps_ramp_start,
                      sa_eps_ramp_steps=target.sa_eps_ramp_steps)


def _copy_agent(source: Path, destination: Path) -> None:
    for suffix in (".safetensors", ".curve.csv", ".json"):  # card last: it vouches for the weights
        src = source.with_suffix(suffix)
        if src.exists():
            with atomic_path(destination.with_suffix(suffix)) as tmp:
                shutil.copyfile(src, tmp)


def open_run(target: Target, agents_dir: Path = AGENTS_DIR, runs_dir: Path = REPO_ROOT / "runs",
             threads: int = 0) -> DDQNTrainer:
    """The trainer of ``target``'s run folder ``runs_dir/<stem>``: resumed with its own settings (also one fine-tuned
    from a vanilla agent replaced since), or new, configured by :func:`run_config`. ``threads`` (if positive)
    replaces the torch thread count that the run or the model card recorded: it describes the machine, not the
    agent."""
    run_dir = runs_dir / target.stem
    config = run_config(target, run_dir, agents_dir)
    return DDQNTrainer(replace(config, torch_threads=threads) if threads > 0 else config, run_dir,
                       resume=checkpoint_path(run_dir).exists())


def run_config(target: Target, run_dir: Path, agents_dir: Path = AGENTS_DIR) -> DDQNConfig:
    """The configuration ``target``'s run in ``run_dir`` trains with: the run's own (``config.json``) when it has a
    checkpoint, else :func:`_config_for`'s; in both cases ``total_steps`` at least :data:`CAMPAIGN_TOTAL_STEPS`."""
    if checkpoint_path(run_dir).exists():
        config = DDQNConfig(**json.loads((run_dir / "config.json").read_text()))
    else:
        config = _config_for(target, agents_dir)
    return replace(config, total_steps=max(config.total_steps, CAMPAIGN_TOTAL_STEPS[target.method]))


def run_chunk(trainer: DDQNTrainer, target: Target, seconds: float, agents_dir: Path = AGENTS_DIR,
              episodes: int = 10) -> tuple[float, float, bool]:
    """Train ``target`` for ``seconds``, then :func:`evaluate_and_promote` the run's agent."""
    trainer.train(deadline=time.time() + seconds)
    return evaluate_and_promote(trainer.agent_out, target, agents_dir, episodes)


def evaluate_and_promote(candidate: Path, target: Target, agents_dir: Path = AGENTS_DIR,
                         episodes: int = 10) -> tuple[float, float, bool]:
    """Evaluate the agent ``candidate`` (10 natural episodes; SA-DDQN also PGD-10 at 1/255, recorded in its card) and
    copy it into ``agents_dir`` if it beats the agent there on the target metric or, where there is none, random play,
    and in either case plays better than random play without an attack. An agent that plays no better than chance says
    nothing about its game: the first BankHeist agent scored 0 against random play's 14; the first BankHeist SA-DDQN
    agent scored 19 under PGD-10 but 13 without an attack. An SA-DDQN candidate that passes is also evaluated under
    PGD-50 when the agent in place has that card entry, and must score at least as much there: a BankHeist candidate
    tied under PGD-10 (283 against 282) scored 213 against 285 under PGD-50 (book/training.md, session 37); a
    promoted agent's card then has its PGD-50 entry already. A promoted agent takes its cached evaluations along
    (:func:`paperlib.evaluate.copy_evaluations`). Returns (score, the score it had to beat, promoted)."""
    candidate_card = read_card(candidate)  # results are written only into the card of these weights
    candidate_sha256 = candidate_card.sha256
    natural = evaluate_agent(candidate, episodes=episodes)
    update_card(candidate, evaluation=natural, agent_sha256=candidate_sha256)
    score = natural.mean
    if target.robust:
        attacked = evaluate_agent(candidate, episodes=episodes, attack=PGD10)
        update_card(candidate, robustness={PGD10.label: attacked}, agent_sha256=candidate_sha256)
        score = attacked.mean
    # random play is also the baseline under attack: an attack cannot change random actions
    random_play = evaluate_random_play(target.game, episodes, frame_stack=candidate_card.frame_stack).mean
    baseline = current_score(target, agents_dir)
    baseline = random_play if baseline is None else baseline
    promoted = score > baseline and natural.mean > random_play
    if promoted and target.robust:
        promoted = _holds_under_pgd50(candidate, candidate_sha256, agents_dir / target.stem, episodes)
    if promoted:
        _copy_agent(candidate, agents_dir / target.stem)
        copy_evaluations(candidate, agents_dir / target.stem)
    log_chunk(agents_dir, target, candidate, score=score, to_beat=baseline, natural=natural.mean,
              random_play=random_play, promoted=promoted)
    return score, baseline, promoted


def _holds_under_pgd50(candidate: Path, candidate_sha256: str, current: Path, episodes: int) -> bool:
    """Whether ``candidate`` scores at least the PGD-50 return recorded in the card of the agent ``current`` (True
    where there is no such agent or entry); the candidate's PGD-50 evaluation is recorded in its card."""
    recorded = read_card(current).robustness.get(PGD50.label) if _has_agent(current) else None
    if recorded is None:
        return True
    stronger = evaluate_agent(candidate, episodes=episodes, attack=PGD50)
    add_robustness(candidate, PGD50.label, stronger, agent_sha256=candidate_sha256)
    holds = stronger.mean >= recorded.mean
    if not holds:
        print(f"campaign: {candidate} scores {stronger.mean:g} under {PGD50.label}, below the {recorded.mean:g} of "
              f"{current}: not promoted", flush=True)
    return holds


def log_chunk(agents_dir: Path, target: Target, candidate: Path, *, score: float, to_beat: float, natural: float,
              random_play: float, promoted: bool) -> None:
    """Append one row (:data:`LOG_COLUMNS`) for the evaluated ``candidate`` to ``agents_dir/campaign-log.csv``,
    atomically (the whole file is rewritten through a temporary file)."""
    card = read_card(candidate)
    row = {"time_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "agent": target.stem,
           "agent_steps": card.env_steps, "updates": card.updates, "cpu_hours": f"{card.cpu_hours:.4f}",
           "metric": target.metric, "score": f"{score:g}", "to_beat": f"{to_beat:g}",
           "natural": f"{natural:g}", "random_play": f"{random_play:g}", "promoted": promoted,
           "sha256": card.sha256, "git_commit": git_commit()}
    path = agents_dir / LOG_NAME
    text = io.StringIO()
    writer = csv.DictWriter(text, LOG_COLUMNS, lineterminator="\n")
    if not path.exists():
        writer.writeheader()
    writer.writerow(row)
    write_text(path, (path.read_text() if path.exists() else "") + text.getvalue())


def promote_run(stem: str, agents_dir: Path = AGENTS_DIR, runs_dir: Path = REPO_ROOT / "runs",
                episodes: int = 10, run_dir: Path | None = None) -> tuple[float, float, bool]:
    """:func:`evaluate_and_promote` the agent of the run ``runs_dir/<stem>``, e.g. after a campaign that was stopped
    during its evaluation (the weights it trained were exported before the evaluation began), or of the run folder
    ``run_dir``, e.g. a second run of the same agent with another seed (``paperlib train --run-dir``)."""
    target = find_target(stem)
    candidate = (runs_dir / stem if run_dir is None else Path(run_dir)) / "agent"
    if not _has_agent(candidate):
        raise FileNotFoundError(f"no agent at {candidate}: train it first (paperlib campaign --hours H)")
    return evaluate_and_promote(candidate, target, agents_dir, episodes)


def run_campaign(hours: float, chunk_hours: float = 1.0, agents_dir: Path = AGENTS_DIR,
                 runs_dir: Path = REPO_ROOT / "runs", only: str | None = None,
                 complete_cards_first: bool = True, threads: int = 0) -> None:
    """Work through :data:`TARGETS` for ``hours`` of wall time, in chunks of ``chunk_hours``, completing the
    model cards (:func:`complete_cards`) before each chunk unless ``complete_cards_first`` is False (the missing
    evaluations then stay missing for a later campaign). ``only``: train just that agent (even one that meets
    its minimum; it is still promoted only if it improves) and complete just its card. ``threads``: torch
    threads for training (:func:`open_run`; 0 keeps what each run recorded).

    Consecutive chunks of the same agent share one trainer (and its replay buffer); SIGINT or SIGTERM
    ends the current chunk, which is still evaluated, and then the campaign; during a card evaluation it
    pauses that evaluation with its checkpoint (:func:`complete_cards`) and ends the campaign.
    """
    if hours <= 0 or chunk_hours <= 0:
        raise ValueError("hours and chunk_hours must be positive")
    chosen = find_target(only) if only else None
    if chosen and not checkpoint_path(runs_dir / chosen.stem).exists():
        _config_for(chosen, agents_dir)  # a missing parent fails now, not after the card evaluations
    deadline = time.time() + hours * 3600
    trainer, not_promoted = None, None
    while time.time() < deadline - 60:
        if complete_cards_first and not complete_cards(deadline, agents_dir, only=only):
            return
        target = chosen or next_target(agents_dir, not_promoted)
        if target is None:
            print("every agent meets its target")
            return
        if trainer is None or trainer.run_dir != runs_dir / target.stem:
            trainer = None  # free the previous agent's replay buffer first
            trainer = open_run(target, agents_dir, runs_dir, threads=threads)
        seconds = min(chunk_hours * 3600, deadline - time.time())
        print(f"campaign: training {target.stem} for {seconds / 60:.0f} min "
              f"(target {target.metric} >= {target.minimum:g})", flush=True)
        score, baseline, promoted = run_chunk(trainer, target, seconds, agents_dir)
        print(f"campaign: {target.stem} scores {score:g} on {target.metric}, to beat {baseline:g}: "
              f"{'promoted' if promoted else 'not promoted'}", flush=True)
        not_promoted = None if promoted else target.stem
        if trainer.stop_requested:
            print("campaign: stopped by a signal")
            return


def provisional_games(agents_dir: Path = AGENTS_DIR) -> dict[str, str]:
    """Per game with an agent in ``agents_dir`` that is unevaluated or below its minimum, why comparisons
    of that game's agents are provisional (the paper compares a good vanilla agent with a robust one)."""
    reasons: dict[str, list[str]] = {}
    for target in TARGETS:
        if not _has_agent(agents_dir / target.stem):
            continue
        score = current_score(target, agents_dir)
        if score is None:
            reasons.setdefault(target.game, []).append(f"{target.stem} has no {target.metric} evaluation")
        elif score < target.minimum:
            reasons.setdefault(target.game, []).append(
                f"{target.stem} scores {score:g} on {target.metric}, below its minimum {target.minimum:g}")
    return {game: "provisional: " + "; ".join(parts) for game, parts in reasons.items()}


def campaign_status(agents_dir: Path = AGENTS_DIR) -> list[dict]:
    """One row per target: its score, minimum and training budget so far."""
    rows = []
    for target in TARGETS:
        score = current_score(target, agents_dir)
        card = read_card(agents_dir / target.stem) if _has_agent(agents_dir / target.stem) else None
        rows.append({"agent": target.stem, "metric": target.metric, "minimum": target.minimum, "score": score,
                     "met": score is not None and score >= target.minimum,
                     "env_steps": card.env_steps if card else 0, "cpu_hours": card.cpu_hours if card else 0.0})
    return rows

