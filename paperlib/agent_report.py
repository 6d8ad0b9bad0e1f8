"""Scores and learning curves of the agents in ``data/agents`` (the "Agents" chapter)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from paperlib.agents import agent_paths, read_card
from paperlib.ddqn import METHOD_LABELS
from paperlib.evaluate import evaluate_agent
from paperlib.games import get_game


def _attacked_mean(card, steps: int) -> float:
    evaluation = card.robustness.get(f"pgd-{steps} eps=1/255")
    return evaluation.mean if evaluation else np.nan


def score_table(stems: list[Path], episodes: int, seed: int, max_frames: int) -> pd.DataFrame:
    """One row per agent: training budget, a fresh (cached) natural evaluation, the card's natural and
    PGD-10 / PGD-50 (eps = 1/255) returns, and the paper's anchors (SA-DQN released agents)."""
    rows = []
    for stem in stems:
        card = read_card(stem)
        spec = get_game(card.game)
        evaluation = evaluate_agent(stem, episodes=episodes, seed=seed, max_frames_per_episode=max_frames)
        rows.append({
            "agent": stem.name,
            "game": card.game,
            "method": card.method,
            "env_steps": card.env_steps,
            "cpu_hours": card.cpu_hours,
            "card_mean": card.evaluation.mean if card.evaluation else np.nan,
            "card_episodes": card.evaluation.episodes if card.evaluation else 0,
            "eval_mean": evaluation.mean,
            "eval_std": evaluation.std,
            "eval_episodes": evaluation.episodes,
            "card_pgd10": _attacked_mean(card, 10),
            "card_pgd50": _attacked_mean(card, 50),
            "paper_natural": spec.paper_scores.get(card.method, np.nan),
            "paper_pgd10": spec.paper_pgd10_scores.get(card.method, np.nan),
            "fine_tuned_from": card.fine_tuned_from.split("@")[0].rsplit("/", 1)[-1],
            "sha256": card.sha256[:12],
        })
    return pd.DataFrame(rows)


def robustness_contrast(table: pd.DataFrame, keep: float = 0.8) -> list[str]:
    """Per game, the contrast the paper studies (agents issue): the SA-DDQN agent keeps at least ``keep`` of
    its natural return under PGD-10 at eps = 1/255, while the vanilla DDQN agent loses most of it (keeps
    less than half). Uses the model cards' natural and PGD-10 scores (``score_table`` columns)."""
    lines = []
    for game, rows in table.groupby("game"):
        parts = []
        for row in rows.sort_values("method").itertuples():
            if np.isnan(row.card_mean) or np.isnan(row.card_pgd10):
                parts.append(f"{row.method}: natural or PGD-10 score not recorded")
                continue
            if row.card_mean <= 0:
                parts.append(f"{row.method}: natural return {row.card_mean:g} is not positive, no share to keep")
                continue
            share = row.card_pgd10 / row.card_mean
            if row.method == "sa-ddqn":
                verdict = f"keeps at least {keep:.0%}: {'holds' if share >= keep else 'does not hold'}"
            else:
                verdict = f"loses most of it: {'holds' if share < 0.5 else 'does not hold'}"
            parts.append(f"{row.method} keeps {share:.0%} of its natural return under PGD-10 "
                         f"({row.card_pgd10:g} of {row.card_mean:g}), {verdict}")
        lines.append(f"{game}: " + "; ".join(parts))
    return lines


def plot_learning_curves(stems: list[Path], window: int = 20):
    """Episode return against agent steps, smoothed with a trailing mean; one panel per game."""
    curves = {stem: agent_paths(stem)[0].with_suffix(".curve.csv") for stem in stems}
    games = sorted({read_card(stem).game for stem in stems})
    fig, axes = plt.subplots(1, max(len(games), 1), figsize=(4.5 * max(len(games), 1), 3.2), squeeze=False)
    for ax, game in zip(axes[0], games):
        for stem in stems:
            card = read_card(stem)
            if card.game != game or not curves[stem].exists():
                continue
            curve = pd.read_csv(curves[stem])
            smooth = curve["episode_return"].rolling(window, min_periods=1).mean()
            ax.plot(curve["env_step"] / 1e6, smooth, label=METHOD_LABELS.get(card.method, card.method))
            ax.scatter(curve["env_step"] / 1e6, curve["episode_return"], s=2, alpha=0.2)
        paper = get_game(game).paper_scores.get("ddqn")
        if paper is not None:
            ax.axhline(paper, color="grey", ls="--", lw=1, label="SA-DQN release (vanilla)")
        ax.set(title=game, xlabel="agent steps (millions)", ylabel="episode return (unclipped)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
