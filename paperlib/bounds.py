"""Interval bound propagation (IBP, Gowal et al. 2018) for the action margins of a Q-network.

For every state s and action a, :func:`margin_upper_bounds` returns an upper bound on

    max_{s' in B(s)} Q(s', a) - Q(s', a*(s)),   B(s) = {s' : ||s' - s||_inf <= eps, 0 <= s' <= 1},

the inner maximum of the SA-DQN regulariser (seed 001, Eq. 7). Intervals are propagated in
centre/radius form through convolutions, linear layers and ReLUs up to the last hidden layer;
the last layer is folded into the margin (the difference of two output rows) before it is
bounded, which is tighter than bounding each Q-value separately. For the dueling network the
value stream and the advantage mean cancel in every margin, so only the advantage stream counts.
"""
from __future__ import annotations

import torch
from torch import nn

from paperlib.networks import DuelingNatureCNN, NatureCNN


def interval_forward(layers: list[nn.Module], lower: torch.Tensor, upper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Propagate the box [lower, upper] through Conv2d / Linear / ReLU / Flatten layers."""
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            centre, radius = (upper + lower) / 2, (upper - lower) / 2
            if isinstance(layer, nn.Conv2d):
                centre = layer(centre)
                radius = nn.functional.conv2d(radius, layer.weight.abs(), None, layer.stride, layer.padding,
                                              layer.dilation, layer.groups)
            else:
                centre = layer(centre)
                radius = radius @ layer.weight.abs().t()
            lower, upper = centre - radius, centre + radius
        elif isinstance(layer, (nn.ReLU, nn.Flatten)):
            lower, upper = layer(lower), layer(upper)
        else:
            raise TypeError(f"IBP does not support layer {type(layer).__name__}")
    return lower, upper


def _margin_parts(network: nn.Module) -> tuple[list[nn.Module], nn.Linear]:
    """Split a supported Q-network into (layers up to the last hidden layer, final linear layer of the margin)."""
    if isinstance(network, DuelingNatureCNN):
        return [*network.features, *network.advantage[:-1]], network.advantage[-1]
    if isinstance(network, NatureCNN):
        return [*network.features, *network.q[:-1]], network.q[-1]
    raise TypeError(f"IBP margins are implemented for NatureCNN and DuelingNatureCNN, not {type(network).__name__}")


def margin_upper_bounds(network: nn.Module, states: torch.Tensor, eps: float | torch.Tensor,
                        actions: torch.Tensor) -> torch.Tensor:
    """Upper bounds (B, A) on Q(s', a) - Q(s', actions) over the l-inf ball of radius ``eps`` clipped to [0, 1].

    ``eps`` is a float or a (B,) tensor; the column of ``actions`` itself is exactly 0.
    """
    body, last = _margin_parts(network)
    eps = torch.as_tensor(eps, dtype=states.dtype, device=states.device).reshape(-1, *[1] * (states.dim() - 1))
    lower, upper = interval_forward(body, (states - eps).clamp(0, 1), (states + eps).clamp(0, 1))
    # margin(a) = (w_a - w_star) . h + (b_a - b_star), bounded over h in [lower, upper]
    w_diff = last.weight.unsqueeze(0) - last.weight[actions].unsqueeze(1)  # (B, A, H)
    b_diff = last.bias.unsqueeze(0) - last.bias[actions].unsqueeze(1)  # (B, A)
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    return torch.einsum("bah,bh->ba", w_diff, centre) + torch.einsum("bah,bh->ba", w_diff.abs(), radius) + b_diff
