"""KMAP and HMAP feature sensitivity maps, their sparsity and entropy (companion paper, Eqs. 4-6; core paper, section 5).

For a state s with greedy action a* and every pixel (i, j):

    K(i, j) = Q(s, a*) - Q(s, argmax_a Q(Z_ij(s), a))                      (Eq. 4)
    H(i, j) = - sum_a pi(s, a) log pi(Z_ij(s), a),  pi = softmax(Q / T)     (Eqs. 5-6)

and the maps of a set of states are sums over the states (Algorithms 1-2's +=).
Sparsity S(M) = ||M||_1 / ||M||_2 (at most sqrt(H W) = 84), entropy of a map
-sum softmax(M) log softmax(M) over all entries (at most ln(H W) = 8.8616).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from paperlib.ablation import ablated_q_dense, ablated_q_incremental, conv_stack
from paperlib.progress import Progress

METHODS = ("auto", "incremental", "dense")
"""Ways to compute the ablated Q-values (same values up to float32 rounding)."""


@dataclass
class FeatureMaps:
    """Per-state KMAP and HMAP of a set of states."""

    kmap: np.ndarray
    """K of every state, shape (N, H, W); the paper's KMAP is ``kmap.sum(0)``."""
    hmap: np.ndarray
    """H of every state, shape (N, H, W); the paper's HMAP is ``hmap.sum(0)``."""
    temperature: float
    """Softmax temperature T of HMAP."""


def kmap_from_q(q_clean: torch.Tensor, q_ablated: torch.Tensor) -> torch.Tensor:
    """Eq. 4 for every ablation: q_clean (A,), q_ablated (P, A) -> (P,)."""
    chosen = q_ablated.argmax(dim=1)
    return q_clean.max() - q_clean[chosen]


def hmap_from_q(q_clean: torch.Tensor, q_ablated: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Eq. 5 for every ablation: cross-entropy between pi(s) and pi(Z_ij(s)) -> (P,)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    clean = torch.softmax(q_clean / temperature, dim=0)
    return -(clean * torch.log_softmax(q_ablated / temperature, dim=1)).sum(dim=1)


def ablated_q(network: nn.Module, state: torch.Tensor, method: str = "auto") -> torch.Tensor:
    """Q(Z_ij(s), .) for all pixels, (H*W, A), up to a per-pixel constant (all that KMAP and HMAP depend on),
    with the incremental path where the network allows it."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "dense" or (method == "auto" and conv_stack(network) is None):
        return ablated_q_dense(network, state)
    return ablated_q_incremental(network, state, up_to_shift=True)


def feature_maps(network: nn.Module, states: torch.Tensor, temperature: float = 1.0, method: str = "auto",
                 progress: bool = True) -> FeatureMaps:
    """KMAP and HMAP of every state in ``states`` (N, C, H, W), float in [0, 1]."""
    if states.dim() != 4 or len(states) == 0:
        raise ValueError(f"expected a non-empty batch of states (N, C, H, W), got shape {tuple(states.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    _, _, height, width = states.shape
    kmaps, hmaps = [], []
    bar = Progress(len(states), 0, "feature maps", enabled=progress, unit="state")
    with torch.no_grad():
        for index, state in enumerate(states):
            q_clean = network(state.unsqueeze(0))[0]
            q_ablated = ablated_q(network, state, method)
            kmaps.append(kmap_from_q(q_clean, q_ablated).reshape(height, width).cpu().numpy())
            hmaps.append(hmap_from_q(q_clean, q_ablated, temperature).reshape(height, width).cpu().numpy())
            bar.update(index + 1)
    bar.close()
    return FeatureMaps(np.stack(kmaps), np.stack(hmaps), temperature)


def _check_map(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {values.shape}")
    return values


def sparsity(feature_map: np.ndarray) -> float:
    """S(M) = ||M||_1 / ||M||_2 over all entries; NaN (undefined) for an all-zero map."""
    values = _check_map(feature_map)
    l2 = float(np.sqrt((values**2).sum()))
    return float(np.abs(values).sum() / l2) if l2 > 0 else math.nan


def map_entropy(feature_map: np.ndarray) -> float:
    """-sum softmax(M) log softmax(M) over all entries of the map."""
    values = _check_map(feature_map).reshape(-1)
    shifted = values - values.max()
    log_p = shifted - np.log(np.exp(shifted).sum())
    return float(-(np.exp(log_p) * log_p).sum()) + 0.0  # + 0.0: never -0.0
