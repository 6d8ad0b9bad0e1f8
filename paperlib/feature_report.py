"""Figures 3-8 and Tables 1-2 of the core paper: KMAP / HMAP heatmaps, their sparsity and entropy.

Maps are computed for every available agent on states sampled from its own evaluation episodes
(:mod:`paperlib.states`), cached by agent sha256 and parameters. Tables add percentile bootstrap
intervals over states (beyond the paper) next to the paper's values, and show how Table 2's entropies depend on
the units of the maps (:func:`entropy_by_scale`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from paperlib.agents import load_agent, read_card
from paperlib.bootstrap import bootstrap_interval, lower_verdict
from paperlib.cache import agent_cache_dir, cached
from paperlib.ddqn import METHOD_LABELS
from paperlib.devices import resolve_device
from paperlib.feature_maps import FeatureMaps, feature_maps, map_entropy, sparsity
from paperlib.preprocess import to_network_input
from paperlib.states import StateSampling, sample_states

# Core paper, Table 1 (sparsity) and Table 2 (entropy), per game: values for (vanilla, adversarially trained).
PAPER_TABLES = {
    "S(K)": {"Freeway": (53.7272, 20.4641), "BankHeist": (38.4085, 4.8812), "RoadRunner": (33.1493, 11.3216),
             "Pong": (49.7993, 1.9508)},
    "S(H)": {"Freeway": (83.9999, 83.91587), "BankHeist": (83.99999, 83.99994), "RoadRunner": (83.999992, 83.999993),
             "Pong": (83.99999, 83.9999)},
    "H(K)": {"Freeway": (8.8287, 0.0807), "BankHeist": (0.0055, 1.542e-20), "RoadRunner": (1.2346, 0.6973),
             "Pong": (8.8615, 8.5658)},
    "H(H)": {"Freeway": (8.8616, 0.5677), "BankHeist": (8.8616, 0.54405), "RoadRunner": (8.8610, 8.8608),
             "Pong": (8.8616, 8.8615)},
}
MAPS_REVISION = 2
"""Part of the cache key of the maps, raised whenever a fix changes computed maps so that maps cached before
it are computed afresh (2: the incremental path computes its windows once for all pixels; before, batches of
scattered non-black pixels, as on RoadRunner, could use wrong windows)."""
MEASURES = {"S(K)": ("kmap", sparsity), "S(H)": ("hmap", sparsity), "H(K)": ("kmap", map_entropy),
            "H(H)": ("hmap", map_entropy)}
ENTROPY_SCALES = tuple(float(c) for c in 10.0 ** np.arange(0.0, 4.5, 0.5))
"""Factors c by which :func:`entropy_by_scale` multiplies the summed maps: 1 (the agents' own Q units) to 10^4."""


def agent_maps(stem: str | Path, sampling: StateSampling, temperature: float = 1.0, progress: bool = True,
               device: str = "cpu") -> FeatureMaps:
    """Per-state KMAP and HMAP of an agent on its sampled states (cached), computed on ``device`` ("cpu" or
    "cuda"). Maps computed on another device than the CPU are cached under their own key: the float rounding of
    their Q-values, and so an argmax between near-equal actions, can differ."""
    card = read_card(stem)
    target = resolve_device(device, check_available=False)  # a name torch does not know fails here
    params = {"sampling": asdict(sampling), "temperature": temperature, "revision": MAPS_REVISION}
    if target.type != "cpu":
        params["device"] = target.type  # CPU maps keep the key they had before devices were a parameter

    def compute() -> dict[str, np.ndarray]:
        on = resolve_device(device)  # a device this machine lacks fails before any work
        network, _ = load_agent(stem, on)
        states = to_network_input(sample_states(stem, sampling).obs, on)
        maps = feature_maps(network, states, temperature, progress=progress)
        return {"kmap": maps.kmap, "hmap": maps.hmap}

    stored = cached("feature_maps", params, [card.sha256], compute, agent_cache_dir(stem))
    return FeatureMaps(stored["kmap"], stored["hmap"], temperature)


def measure_table(maps: dict[tuple[str, str], FeatureMaps], resamples: int = 1000) -> pd.DataFrame:
    """Tables 1-2: one row per (game, method), each measure of the summed map with a 95% bootstrap interval, and
    ``states with K>0``, the states in which some single-pixel ablation changes the greedy action: a resample that
    holds none of them has an all-zero KMAP, whose S(K) is undefined and left out of the interval."""
    rows = []
    for (game, method), agent in sorted(maps.items()):
        row = {"game": game, "method": method, "states": len(agent.kmap),
               "states with K>0": int((agent.kmap.reshape(len(agent.kmap), -1) > 0).any(axis=1).sum())}
        for measure, (kind, function) in MEASURES.items():
            per_state = getattr(agent, kind)
            row[measure] = function(per_state.sum(axis=0))
            low, high = bootstrap_interval(per_state, lambda sample, f=function: f(sample.sum(axis=0)), resamples)
            row[f"{measure} low"], row[f"{measure} high"] = float(low), float(high)
            paper = PAPER_TABLES[measure].get(game)
            row[f"{measure} paper"] = (paper[0] if method == "ddqn" else paper[1]) if paper else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def entropy_by_scale(maps: dict[tuple[str, str], FeatureMaps], scales: Sequence[float] = ENTROPY_SCALES) -> pd.DataFrame:
    """H(cK) and H(cH): the entropy of the softmax (core paper, Eq. 8) of the summed KMAP and HMAP multiplied by
    each factor c in ``scales``, one row per (game, method, c).

    Unlike S(M), which is scale-invariant, H(M) depends on the units of the map, so on the scale of the agent's
    Q-values and on how many states the map sums over, neither of which Table 2 states. As c grows, H(cM) falls
    from ln(H W) (uniform softmax; an HMAP's constant part drops out) to ln(number of entries tied at the
    maximum): at large c it counts maximal entries, not how spread out the map is."""
    scales = [float(c) for c in scales]
    if not scales or min(scales) <= 0:
        raise ValueError(f"scales must be positive numbers, got {scales}")
    rows = []
    for (game, method), agent in sorted(maps.items()):
        summed_k, summed_h = agent.kmap.sum(axis=0), agent.hmap.sum(axis=0)
        rows += [{"game": game, "method": method, "c": c, "H(cK)": map_entropy(c * summed_k),
                  "H(cH)": map_entropy(c * summed_h)} for c in scales]
    return pd.DataFrame(rows, columns=["game", "method", "c", "H(cK)", "H(cH)"])


def plot_entropy_by_scale(by_scale: pd.DataFrame):
    """H(cK) (top) and H(cH) (bottom) against c, one column per game, adversarially trained and vanilla."""
    games = sorted(by_scale["game"].unique())
    fig, axes = plt.subplots(2, len(games), figsize=(2.6 * len(games) + 0.6, 4.6), sharex=True, sharey=True,
                             squeeze=False)
    for column, game in enumerate(games):
        for row, measure in enumerate(("H(cK)", "H(cH)")):
            ax = axes[row, column]
            for method in ("sa-ddqn", "ddqn"):
                curve = by_scale[(by_scale["game"] == game) & (by_scale["method"] == method)]
                if len(curve):
                    ax.plot(curve["c"], curve[measure], marker="o", markersize=3, label=METHOD_LABELS[method])
            ax.axhline(math.log(84 * 84), color="grey", linestyle="--", linewidth=0.8)
            ax.axvline(1.0, color="grey", linestyle=":", linewidth=0.8)
            ax.set_xscale("log")
            ax.set_title(f"{measure}, {game}" if row == 0 else measure, fontsize=9)
    axes[1, 0].set_xlabel("factor c (1: the agents' own units)")
    axes[0, 0].set_ylabel("entropy")
    axes[1, 0].set_ylabel("entropy")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def claim_checks(table: pd.DataFrame, caveats: Mapping[str, str] | None = None,
                 by_scale: pd.DataFrame | None = None) -> list[str]:
    """Per game, whether the paper's claims hold here: adversarial KMAP sparser (lower S(K), Table 1) and less
    spread out (lower H(K), Table 2) than vanilla; HMAP barely distinguishes the two (S(H) of both within 1% of the
    maximum). With ``by_scale`` (:func:`entropy_by_scale`), also at how many factors c H(cK) is lower for the
    adversarial agent. ``caveats`` (per game, e.g. :func:`paperlib.campaign.provisional_games`) are appended in
    brackets."""
    lines = []
    for game, rows in table.groupby("game"):
        by_method = rows.set_index("method")
        if not {"ddqn", "sa-ddqn"} <= set(by_method.index):
            lines.append(f"{game}: not testable yet (agents present: {', '.join(sorted(by_method.index))})")
            continue
        v, a = by_method.loc["ddqn"], by_method.loc["sa-ddqn"]
        sparser = lower_verdict(a, v, "S(K)")
        hmap_close = all(row["S(H)"] >= 0.99 * 84 for row in (v, a))
        entropy = f"adversarial KMAP lower entropy: {lower_verdict(a, v, 'H(K)')} (H(K) {a['H(K)']:.3f} vs " \
                  f"{v['H(K)']:.3f}"
        if by_scale is not None:
            curves = by_scale[by_scale["game"] == game].pivot(index="c", columns="method", values="H(cK)")
            entropy += f"; lower at {int((curves['sa-ddqn'] < curves['ddqn']).sum())} of {len(curves)} factors c " \
                       f"from {curves.index.min():g} to {curves.index.max():g}"
        lines.append(f"{game}: adversarial KMAP sparser than vanilla: {sparser} "
                     f"(S(K) {a['S(K)']:.2f} vs {v['S(K)']:.2f}); {entropy}); HMAP barely distinguishes them: "
                     f"{'holds' if hmap_close else 'does not hold'} (S(H) {a['S(H)']:.2f} vs {v['S(H)']:.2f})"
                     + (f" [{caveats[game]}]" if caveats and game in caveats else ""))
    return lines


def plot_pair(per_state: dict[str, np.ndarray | None], title: str, frames: dict[str, np.ndarray | None] | None = None):
    """Two heatmaps, left adversarially trained, right vanilla, rows top to bottom: each method's per-state maps
    (states, 84, 84) summed over its states (Algorithm 1's +=), their number in the panel's title; a shared colour
    scale when both exist and have the same sign. ``frames`` (84x84 uint8) overlays each map on a representative
    observation."""
    maps = {method: None if values is None else values.sum(axis=0) for method, values in per_state.items()}
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    present = [m for m in maps.values() if m is not None]
    shared = len(present) == 2 and all((m >= 0).all() for m in present)
    vmax = max(float(m.max()) for m in present) if shared else None
    for ax, method in zip(axes, ("sa-ddqn", "ddqn")):
        ax.set_xticks([])
        ax.set_yticks([])
        values = maps.get(method)
        count = "" if values is None else f", {len(per_state[method])} states"
        ax.set_title(METHOD_LABELS[method] + count, fontsize=9)
        if values is None:
            ax.text(0.5, 0.5, "no agent yet", ha="center", va="center", transform=ax.transAxes)
            continue
        frame = (frames or {}).get(method)
        if frame is not None:
            ax.imshow(frame, cmap="gray", origin="upper")
        image = ax.imshow(values, cmap="magma", origin="upper", vmin=0 if shared else None, vmax=vmax,
                          alpha=0.75 if frame is not None else 1.0)
        fig.colorbar(image, ax=ax, fraction=0.046)
        if np.ptp(values) <= 1e-5 * max(float(np.abs(values).max()), 1e-30):
            ax.set_xlabel("constant up to float32 rounding", fontsize=8, color="crimson")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def representative_frame(stem: str | Path, sampling: StateSampling) -> np.ndarray:
    """The first sampled observation's last frame, for overlays."""
    return sample_states(stem, sampling).obs[0, -1]

