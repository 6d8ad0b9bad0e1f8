"""Carlini-Wagner minimal perturbations that change a Q-network's greedy action (core paper, section 4).

For a state s with greedy action a* the attack minimises, over perturbations d with s + d in [0, 1],

    dist(d) + c * max(Q(s+d, a*) - max_{a != a*} Q(s+d, a), -kappa)         (Carlini and Wagner 2017)

with dist = ||d||_2^2 (the classical L2 form) or, for the l-inf form, C&W's penalty
sum_i max(|d_i| - tau, 0) with tau shrunk whenever every |d_i| is below it. The box is kept by
projection after every Adam step (not by a tanh change of variables, which freezes the many Atari
pixels at 0 or 1). A binary search over c per state keeps the smallest perturbation that changes the
action. Everything is batched over states, with per-state early stopping and per-state best results.
Success is re-checked independently of the optimiser: the new greedy action must differ from a*
and ||d||_inf must be below ``bound`` (the paper keeps perturbations with ||d||_inf < 1/255).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from paperlib.attacks import worst_margin

NORMS = ("l2", "linf")


@dataclass(frozen=True)
class CWConfig:
    """Settings of the Carlini-Wagner attack."""

    norm: str = "linf"
    """``"l2"`` (squared L2 distance) or ``"linf"`` (C&W's tau penalty)."""
    kappa: float = 0.0
    """Confidence: how far below the best other action Q(s+d, a*) must be pushed."""
    steps: int = 60
    """Adam steps per binary-search round (fewer when every state's loss plateaus)."""
    search_steps: int = 5
    """Binary-search rounds over c."""
    initial_c: float = 10.0
    """First value of c."""
    lr: float = 5e-4
    """Adam learning rate on the perturbation (pixel units in [0, 1]; 1/255 = 0.0039)."""
    bound: float = 1 / 255
    """Success also requires ||d||_inf < bound."""
    tau_decay: float = 0.9
    """l-inf form: factor applied to tau whenever every |d_i| is below it."""
    targets: str = "max"
    """``"max"``: the classical untargeted margin against the best other action (one run per state);
    ``"all"``: one targeted run per other action, keeping the smallest success (A - 1 times the cost,
    but the global minimum for piecewise-linear boundaries that gradient steps on the max can miss)."""

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; choose one of {', '.join(NORMS)}")
        if not self.bound > 0:
            raise ValueError(f"bound must be positive, got {self.bound}")
        if self.steps <= 0 or self.search_steps <= 0:
            raise ValueError("steps and search_steps must be positive")
        if self.targets not in ("max", "all"):
            raise ValueError(f"targets must be 'max' or 'all', got {self.targets!r}")
        if self.kappa < 0 or not self.initial_c > 0 or not self.lr > 0 or not 0 < self.tau_decay < 1:
            raise ValueError("kappa must be >= 0, initial_c and lr positive, tau_decay in (0, 1)")


@dataclass
class CWResult:
    """Per-state outcome of the attack (tensors on the CPU)."""

    success: torch.Tensor
    """(N,) the greedy action changed and ||d||_inf < bound (re-checked)."""
    perturbation: torch.Tensor
    """(N, C, H, W) best perturbation found (zero where nothing changed the action)."""
    l2: torch.Tensor
    """(N,) L2 norm of the perturbation."""
    linf: torch.Tensor
    """(N,) l-inf norm of the perturbation."""
    original_action: torch.Tensor
    """(N,) greedy action on the clean state."""
    new_action: torch.Tensor
    """(N,) greedy action on the perturbed state."""
    q_before: torch.Tensor
    """(N, A) Q-values on the clean state."""
    q_after: torch.Tensor
    """(N, A) Q-values on the perturbed state."""


def _norms(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = d.flatten(1)
    return flat.norm(dim=1), flat.abs().max(dim=1).values


def carlini_wagner(network: nn.Module, states: torch.Tensor, config: CWConfig = CWConfig()) -> CWResult:
    """Minimal perturbations of ``states`` (N, C, H, W) in [0, 1] that change ``network``'s greedy action."""
    if states.dim() != 4 or len(states) == 0:
        raise ValueError(f"expected a non-empty batch of states (N, C, H, W), got shape {tuple(states.shape)}")
    with torch.no_grad():
        q_before = network(states)
    original = q_before.argmax(dim=1)
    if config.targets == "max":
        best = _search(network, states, original, None, config)
    else:  # one targeted search per (state, other action); keep each state's smallest success
        n, n_actions = q_before.shape
        others = torch.tensor([[a for a in range(n_actions) if a != int(o)] for o in original], device=states.device)
        repeated = states.repeat_interleave(n_actions - 1, dim=0)
        found = _search(network, repeated, original.repeat_interleave(n_actions - 1), others.reshape(-1), config)
        with torch.no_grad():
            flipped = network((repeated + found).clamp(0, 1)).argmax(dim=1) != original.repeat_interleave(n_actions - 1)
            l2, linf = _norms(found)
            size = torch.where(flipped, l2 if config.norm == "l2" else linf, torch.inf).view(n, n_actions - 1)
            choice = size.argmin(dim=1) + torch.arange(n, device=states.device) * (n_actions - 1)
            best = found[choice]
    with torch.no_grad():
        adversarial = (states + best).clamp(0, 1)
        q_after = network(adversarial)
        perturbation = adversarial - states
        l2, linf = _norms(perturbation)
        new_action = q_after.argmax(dim=1)
        success = (new_action != original) & (linf < config.bound)
    return CWResult(success.cpu(), perturbation.cpu(), l2.cpu(), linf.cpu(), original.cpu(), new_action.cpu(),
                    q_before.cpu(), q_after.cpu())


def _search(network: nn.Module, states: torch.Tensor, original: torch.Tensor, target: torch.Tensor | None,
            config: CWConfig) -> torch.Tensor:
    """Binary search over c of the C&W optimisation; returns the smallest action-changing perturbation per state."""
    n = len(states)
    like = {"device": states.device, "dtype": states.dtype}
    c = torch.full((n,), config.initial_c, **like)
    lower, upper = torch.zeros(n, **like), torch.full((n,), float("inf"), **like)
    best_norm = torch.full((n,), float("inf"), **like)
    best = torch.zeros_like(states)
    view = (n,) + (1,) * (states.dim() - 1)
    for _ in range(config.search_steps):
        d = torch.zeros_like(states, requires_grad=True)
        optimizer = torch.optim.Adam([d], lr=config.lr)
        tau = torch.full((n,), config.bound, **like)
        found = torch.zeros(n, dtype=torch.bool, device=states.device)
        previous = torch.full((n,), float("inf"), **like)
        active = torch.ones(n, dtype=torch.bool, device=states.device)
        check_every = max(config.steps // 10, 1)
        for step in range(config.steps):
            rows = active.nonzero().squeeze(1)  # finished states are frozen and no longer evaluated
            d_rows, original_rows = d[rows], original[rows]
            q = network(states[rows] + d_rows)
            with torch.no_grad():  # bookkeeping for the current perturbation
                flipped = q.argmax(dim=1) != original_rows
                l2, linf = _norms(d_rows)
                size = l2 if config.norm == "l2" else linf
                better = flipped & (size < best_norm[rows])
                best_norm[rows[better]] = size[better]
                best[rows[better]] = d_rows[better]
                found[rows] |= flipped
                if config.norm == "linf":
                    shrink = rows[flipped & (linf < tau[rows])]
                    tau[shrink] *= config.tau_decay
            if target is None:
                margin = -worst_margin(q, original_rows)  # Q(a*) - max over the other actions
            else:
                margin = (q.gather(1, original_rows.unsqueeze(1)) - q.gather(1, target[rows].unsqueeze(1))).squeeze(1)
            if config.norm == "l2":
                distance = d_rows.flatten(1).pow(2).sum(dim=1)
            else:
                distance = (d_rows.abs() - tau[rows].view((-1,) + view[1:])).clamp(min=0)
                distance = distance.flatten(1).sum(dim=1)
            loss = distance + c[rows] * margin.clamp(min=-config.kappa)
            if step % check_every == check_every - 1:  # per-state early stop once the loss plateaus
                stalled = loss.detach() >= previous[rows] - 1e-4 * previous[rows].abs()  # NaN (first check): False
                previous[rows] = loss.detach()
                active[rows[stalled]] = False
                if not active.any():
                    break
            frozen = d.detach().clone()
            (d.grad,) = torch.autograd.grad(loss.sum(), d)  # no gradients for the network's weights
            optimizer.step()
            with torch.no_grad():  # box by projection; finished states keep their perturbation
                d.copy_(torch.where(active.view(view), (states + d).clamp(0, 1) - states, frozen))
        upper = torch.where(found, torch.minimum(upper, c), upper)
        lower = torch.where(found, lower, torch.maximum(lower, c))
        c = torch.where(torch.isinf(upper), c * 10, (lower + upper) / 2)
    return best
