"""Scores and learning curves of the agents in ``data/agents`` (the "Agents" chapter)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from paperlib.agents import agent_paths, load_agent, read_card
from paperlib.cache import cached
from paperlib.evaluate import evaluate_network
from paperlib.games import get_game

METHOD_LABELS = {"ddqn": "vanilla DDQN", "sa-ddqn": "SA-DDQN"}


def cached_evaluation(stem: str | Path, episodes: int, seed: int, max_frames: int, epsilon: float = 0.0) -> np.ndarray:
    """Returns of ``episodes`` evaluation episodes, cached by agent sha256 and parameters."""
    card = read_card(stem)
    params = {"episodes": episodes, "seed": seed, "max_frames": max_frames, "epsilon": epsilon}

    def compute() -> dict[str, np.ndarray]:
        network, _ = load_agent(stem)
        result = evaluate_network(network, card.game, episodes=episodes, seed=seed, epsilon=epsilon,
                                  frame_stack=card.frame_stack, max_frames_per_episode=max_frames)
        return {"returns": np.array(result.returns)}

    return cached("evaluation", params, [card.sha256], compute)["returns"]


def score_table(stems: list[Path], episodes: int, seed: int, max_frames: int) -> pd.DataFrame:
    """One row per agent: training budget, card score, a fresh (cached) evaluation and the paper's anchor."""
    rows = []
    for stem in stems:
        card = read_card(stem)
        returns = cached_evaluation(stem, episodes, seed, max_frames)
        rows.append({
            "agent": stem.name,
            "game": card.game,
            "method": card.method,
            "env_steps": card.env_steps,
            "cpu_hours": card.cpu_hours,
            "card_mean": card.evaluation.mean if card.evaluation else np.nan,
            "card_episodes": card.evaluation.episodes if card.evaluation else 0,
            "eval_mean": returns.mean(),
            "eval_std": returns.std(),
            "eval_episodes": len(returns),
            "paper_sa_dqn_release": get_game(card.game).paper_scores.get(card.method, np.nan),
            "sha256": card.sha256[:12],
        })
    return pd.DataFrame(rows)


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
