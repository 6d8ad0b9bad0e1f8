"""The SA-DQN regulariser (Zhang et al. 2020; seed 001, Eq. 7).

    R(theta) = mean_s max{ max_{s' in B(s)} max_{a != a*(s)} Q(s', a) - Q(s', a*(s)), -c },

B(s) the l-inf ball of radius eps around s (clipped to [0, 1]) and a*(s) the greedy action on
the clean state. The inner maximum is bounded from above by interval bound propagation
(``"ibp"``, a certified bound) or approximated from below by PGD ascent (``"pgd"``).
"""
from __future__ import annotations

import torch
from torch import nn

from paperlib.attacks import pgd_margin
from paperlib.bounds import margin_upper_bounds

SA_BOUNDS = ("ibp", "pgd")
"""Ways to evaluate the inner maximum."""


def sa_regularizer(network: nn.Module, states: torch.Tensor, eps: float, bound: str = "ibp", c: float = 1.0,
                   pgd_steps: int = 3, greedy: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 7 averaged over the batch ``states`` (float, in [0, 1]); differentiable in the network's parameters.

    ``greedy``: the greedy actions a*(s) on the clean states, if the caller already has them.
    """
    if greedy is None:
        with torch.no_grad():
            greedy = network(states).argmax(dim=1)
    if bound == "ibp":
        upper = margin_upper_bounds(network, states, eps, greedy)
        worst = upper.scatter(1, greedy.unsqueeze(1), float("-inf")).max(dim=1).values
    elif bound == "pgd":
        worst = pgd_margin(network, states, eps, pgd_steps, greedy)
    else:
        raise ValueError(f"unknown SA bound {bound!r}; choose one of {', '.join(SA_BOUNDS)}")
    return worst.clamp(min=-c).mean()


def sa_eps_at(step: int, eps: float, ramp_start: int, ramp_steps: int) -> float:
    """Radius used at agent step ``step``: 0 before ``ramp_start``, then linear up to ``eps`` over ``ramp_steps``."""
    if step <= ramp_start:
        return 0.0
    if ramp_steps <= 0:
        return eps
    return eps * min((step - ramp_start) / ramp_steps, 1.0)
