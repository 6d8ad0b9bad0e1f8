"""Figures 1-2 of the core paper: Fourier spectra of Carlini-Wagner minimal perturbations.

For every available agent, C&W perturbations are computed on states sampled from its own
evaluation episodes (cached by agent sha256 and parameters). Only successes count: the greedy
action changed and ||d||_inf < 1/255 (re-checked independently of the optimiser).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from paperlib.agents import load_agent, read_card
from paperlib.bootstrap import bootstrap_interval, lower_verdict
from paperlib.cache import agent_cache_dir, cached
from paperlib.cw import CWConfig, carlini_wagner
from paperlib.ddqn import METHOD_LABELS, METHODS
from paperlib.preprocess import to_network_input
from paperlib.spectra import centred_spectrum, low_frequency_fraction, normalised_energy, spectral_centroid
from paperlib.states import StateSampling, sample_states


def agent_attacks(stem: str | Path, sampling: StateSampling, config: CWConfig, batch_size: int = 64) -> dict[str, np.ndarray]:
    """C&W results of an agent on its sampled states (cached): success, perturbation, l2, linf, actions, Q-values."""
    card = read_card(stem)
    params = {"sampling": asdict(sampling), "cw": asdict(config)}

    def compute() -> dict[str, np.ndarray]:
        network, _ = load_agent(stem)
        states = to_network_input(sample_states(stem, sampling).obs)
        parts = [carlini_wagner(network, states[i:i + batch_size], config) for i in range(0, len(states), batch_size)]
        return {field: np.concatenate([getattr(p, field).numpy() for p in parts])
                for field in ("success", "perturbation", "l2", "linf", "original_action", "new_action", "q_before",
                              "q_after")}

    return cached("cw_attacks", params, [card.sha256], compute, agent_cache_dir(stem))


def successful_frames(attacks: dict[str, np.ndarray]) -> np.ndarray:
    """Every frame of every successful perturbation: (M, 84, 84)."""
    kept = attacks["perturbation"][attacks["success"].astype(bool)]
    return kept.reshape(-1, *kept.shape[-2:])


def attack_table(attacks: dict[tuple[str, str], dict[str, np.ndarray]], bound: float) -> pd.DataFrame:
    """How often C&W overcomes the radius for each agent, and the size of its perturbations."""
    rows = []
    for (game, method), result in sorted(attacks.items()):
        success = result["success"].astype(bool)
        rows.append({"game": game, "method": method, "states": len(success), "successes": int(success.sum()),
                     "success_rate": success.mean(), "bound_x255": bound * 255,
                     "median_l2": float(np.median(result["l2"][success])) if success.any() else np.nan,
                     "median_linf_x255": float(np.median(result["linf"][success]) * 255) if success.any() else np.nan})
    return pd.DataFrame(rows)


def spectrum_summary(attacks: dict[tuple[str, str], dict[str, np.ndarray]], cutoff: int,
                     resamples: int = 1000) -> pd.DataFrame:
    """Per agent: spectral centroid and energy fraction at f <= cutoff, with 95% bootstrap intervals."""
    rows = []
    for (game, method), result in sorted(attacks.items()):
        frames = successful_frames(result)
        row = {"game": game, "method": method, "perturbations": len(frames)}
        if len(frames):
            energy = normalised_energy(frames)
            for name, values in (("centroid", spectral_centroid(energy)),
                                 ("low_fraction", low_frequency_fraction(energy, cutoff))):
                low, high = bootstrap_interval(values, resamples=resamples)
                row.update({name: float(values.mean()), f"{name} low": float(low), f"{name} high": float(high)})
        rows.append(row)
    return pd.DataFrame(rows)


def claim_checks(summary: pd.DataFrame, caveats: Mapping[str, str] | None = None) -> list[str]:
    """Per game: are adversarially trained agents' perturbations at lower frequencies (lower spectral centroid)?
    ``caveats`` (per game, e.g. :func:`paperlib.campaign.provisional_games`) are appended in brackets."""
    lines = []
    for game, rows in summary.groupby("game"):
        by_method = rows.set_index("method")
        missing = [m for m in METHODS if m not in by_method.index]
        unbroken = [m for m in METHODS if m in by_method.index and by_method.loc[m, "perturbations"] == 0]
        reasons = []
        if missing:
            reasons.append(f"no agent: {', '.join(missing)}")
        if unbroken:
            reasons.append(f"no successful perturbation within the bound: {', '.join(unbroken)}")
        if reasons:
            lines.append(f"{game}: not testable ({'; '.join(reasons)})")
            continue
        v, a = by_method.loc["ddqn"], by_method.loc["sa-ddqn"]
        verdict = lower_verdict(a, v, "centroid")
        lines.append(f"{game}: adversarial perturbations at lower frequencies: {verdict} "
                     f"(centroid {a['centroid']:.2f} vs {v['centroid']:.2f})"
                     + (f" [{caveats[game]}]" if caveats and game in caveats else ""))
    return lines


def plot_figure1(attacks: dict[tuple[str, str], dict[str, np.ndarray]], games: list[str], example: int | None = None):
    """Log-magnitude centred spectra: first row adversarially trained, second row vanilla, one column per game.
    The mean magnitude over all successful perturbations, or one perturbation (index ``example``)."""
    fig, axes = plt.subplots(2, len(games), figsize=(3.2 * len(games), 6.2), squeeze=False)
    for column, game in enumerate(games):
        for row, method in enumerate(("sa-ddqn", "ddqn")):
            ax = axes[row, column]
            ax.set_xticks([])
            ax.set_yticks([])
            frames = successful_frames(attacks[(game, method)]) if (game, method) in attacks else np.empty((0, 84, 84))
            ax.set_title(f"{game}\n{METHOD_LABELS[method]}", fontsize=8)
            if len(frames) == 0:
                ax.text(0.5, 0.5, "no successful\nperturbation", ha="center", va="center", transform=ax.transAxes)
                continue
            chosen = frames[[min(example, len(frames) - 1)]] if example is not None else frames
            magnitude = np.abs(centred_spectrum(chosen)).mean(axis=0)
            image = ax.imshow(np.log10(magnitude + 1e-12), cmap="viridis", origin="upper")
            ax.set_xlabel(f"{'example' if example is not None else 'mean of'} {len(chosen)} frame(s)", fontsize=8)
            fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def plot_figure2(attacks: dict[tuple[str, str], dict[str, np.ndarray]], games: list[str], resamples: int = 1000):
    """Normalised energy E(f) by maximum spatial frequency, mean over perturbations with 95% bootstrap bands."""
    fig, axes = plt.subplots(1, len(games), figsize=(4 * len(games), 3.2), squeeze=False)
    for ax, game in zip(axes[0], games):
        for method in ("sa-ddqn", "ddqn"):
            frames = successful_frames(attacks[(game, method)]) if (game, method) in attacks else np.empty((0,))
            if len(frames) == 0:
                continue
            energy = normalised_energy(frames)
            low, high = bootstrap_interval(energy, resamples=resamples)
            f = np.arange(energy.shape[1])
            ax.plot(f, energy.mean(axis=0), label=f"{METHOD_LABELS[method]} (n={len(frames)})")
            ax.fill_between(f, low, high, alpha=0.25)
        ax.set(title=game, xlabel="maximum spatial frequency f", ylabel="E(f) (normalised)", yscale="log")
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no successful perturbation", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig
