"""Q-networks: the Nature-CNN of Mnih et al. (2015) and its dueling variant (Wang et al. 2016).

Both map float observations (B, C, 84, 84) in [0, 1] to Q-values (B, A). The analysis code
accepts any ``nn.Module`` with that contract; these two are what the trainer builds.
"""
from __future__ import annotations

import torch
from torch import nn

NETWORKS = ("dueling", "nature")
"""Names accepted by :func:`build_network`."""


def _conv_stack(in_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, kernel_size=8, stride=4),
        nn.ReLU(),
        nn.Conv2d(32, 64, kernel_size=4, stride=2),
        nn.ReLU(),
        nn.Conv2d(64, 64, kernel_size=3, stride=1),
        nn.ReLU(),
        nn.Flatten(),
    )


_FEATURES = 64 * 7 * 7


def _head(out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(_FEATURES, 512), nn.ReLU(), nn.Linear(512, out))


class NatureCNN(nn.Module):
    """Nature-CNN: three convolutions and a 3136-512-A fully connected head."""

    def __init__(self, in_channels: int, n_actions: int) -> None:
        super().__init__()
        self.features = _conv_stack(in_channels)
        self.q = _head(n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q(self.features(x))


class DuelingNatureCNN(nn.Module):
    """Dueling Nature-CNN: Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a') (Wang et al. 2016, Eq. 9)."""

    def __init__(self, in_channels: int, n_actions: int) -> None:
        super().__init__()
        self.features = _conv_stack(in_channels)
        self.value = _head(1)
        self.advantage = _head(n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        advantage = self.advantage(h)
        return self.value(h) + advantage - advantage.mean(dim=1, keepdim=True)


def build_network(name: str, in_channels: int, n_actions: int) -> nn.Module:
    """Build a Q-network by name (one of :data:`NETWORKS`)."""
    if in_channels <= 0 or n_actions <= 0:
        raise ValueError(f"in_channels and n_actions must be positive, got {in_channels}, {n_actions}")
    if name == "dueling":
        return DuelingNatureCNN(in_channels, n_actions)
    if name == "nature":
        return NatureCNN(in_channels, n_actions)
    raise ValueError(f"unknown network {name!r}; choose one of {', '.join(NETWORKS)}")
