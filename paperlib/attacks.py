"""PGD attack on a Q-network's greedy action (the SA-DQN robustness evaluation).

Projected gradient ascent on the cross-entropy between softmax(Q(s')) and the agent's own
greedy action a*(s) (Madry et al. 2018; Zhang et al. 2020): random start inside the l-inf ball,
``steps`` signed-gradient steps of size eps / steps, each followed by projection onto the
ball and onto [0, 1]. Also the worst-case action margin found by PGD, for SA-DQN training.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class AttackSpec:
    """A PGD attack applied to every observation before the agent acts (SA-DQN evaluation protocol)."""

    eps: float
    """l-inf radius in [0, 1] pixel units (1/255 is one grey level)."""
    steps: int
    """PGD iterations; the step size is eps / steps."""

    def __post_init__(self) -> None:
        _check(self.eps, self.steps)

    @property
    def label(self) -> str:
        return f"pgd-{self.steps} eps={self.eps * 255:g}/255"


def _check(eps: float, steps: int) -> None:
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")


def _project(candidate: torch.Tensor, states: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.min(torch.max(candidate, states - eps), states + eps).clamp(0.0, 1.0)


def _ascend(objective, states: torch.Tensor, eps: float, steps: int, generator: torch.Generator | None) -> torch.Tensor:
    noise = torch.rand(states.shape, generator=generator, device=states.device)
    adversarial = _project(states + (2 * noise - 1) * eps, states, eps)
    step_size = eps / steps
    for _ in range(steps):
        adversarial = adversarial.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(adversarial).sum(), adversarial)
        adversarial = _project(adversarial.detach() + step_size * grad.sign(), states, eps)
    return adversarial.detach()


def pgd_attack(network: nn.Module, states: torch.Tensor, eps: float, steps: int,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Adversarial states inside the ball that push the network away from its clean greedy action."""
    _check(eps, steps)
    with torch.no_grad():
        greedy = network(states).argmax(dim=1)
    return _ascend(lambda x: F.cross_entropy(network(x), greedy, reduction="none"), states, eps, steps, generator)


def worst_margin(q_values: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """max_{a != actions} Q(a) - Q(actions), per row."""
    chosen = q_values.gather(1, actions.unsqueeze(1)).squeeze(1)
    others = q_values.scatter(1, actions.unsqueeze(1), float("-inf"))
    return others.max(dim=1).values - chosen


def pgd_margin(network: nn.Module, states: torch.Tensor, eps: float, steps: int, actions: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Worst-case margin max_{a != a*} Q(s', a) - Q(s', a*) at the state s' found by PGD ascent on that margin.

    ``eps == 0`` gives the clean margin.
    """
    if eps == 0:
        return worst_margin(network(states), actions)
    _check(eps, steps)
    adversarial = _ascend(lambda x: worst_margin(network(x), actions), states, eps, steps, generator)
    return worst_margin(network(adversarial), actions)
