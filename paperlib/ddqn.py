"""Double DQN (van Hasselt et al. 2016) with n-step returns, uint8 replay and resumable runs.

Target (van Hasselt et al. 2016, Eq. 4, with an n-step return):

    y = R_t^(n) + gamma^m (1 - done) Q_target(s_{t+m}, argmax_a Q_online(s_{t+m}, a))

Loss: Huber between Q_online(s_t, a_t) and y; optimiser Adam. A run lives in a folder:
``checkpoint.safetensors`` (networks, optimiser, random states and the JSON run state as
metadata, written atomically every ``checkpoint_every`` steps and on SIGINT/SIGTERM),
``learning_curve.csv`` (one row per finished training episode) and ``config.json``.
``resume=True`` continues the step count, schedule and optimiser, and the replay buffer saved when the
last call of ``train`` ended (a run killed without that save refills its buffer first).
"""
from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.numpy import load_file as load_numpy_file
from safetensors.numpy import save_file as save_numpy_file
from safetensors.torch import save_file

from paperlib.agents import ModelCard, load_agent, save_agent
from paperlib.atomic import atomic_path, write_json, write_text
from paperlib.devices import resolve_device
from paperlib.envs import AtariEnvs, EnvConfig
from paperlib.games import get_game
from paperlib.networks import NETWORKS, build_network
from paperlib.preprocess import to_network_input
from paperlib.progress import Progress
from paperlib.replay import ReplayBuffer
from paperlib.sa_regularizer import SA_BOUNDS, sa_eps_at, sa_regularizer
from paperlib.schedules import EpsilonGreedy, check_zeta_mu, linear_epsilon
from paperlib.stop_signals import StopSignals

METHODS = ("ddqn", "sa-ddqn")
"""Training methods."""
METHOD_LABELS = {"sa-ddqn": "adversarially trained (SA-DDQN)", "ddqn": "vanilla (DDQN)"}
"""How figures name the methods."""
CURVE_FIELDS = ("env_step", "episode_return", "episode_length", "epsilon", "loss", "wall_seconds")


@dataclass(frozen=True)
class DDQNConfig:
    """Hyper-parameters of a DDQN run (defaults: a CPU-friendly n-step variant of the Nature recipe)."""

    game: str
    """Game name from :data:`paperlib.games.GAMES`."""
    total_steps: int = 2_000_000
    """Agent steps (summed over environments) to train for."""
    network: str = "dueling"
    """Q-network architecture (see :data:`paperlib.networks.NETWORKS`)."""
    frame_stack: int = 1
    """Frames per observation (1 as in the SA-DQN agents)."""
    num_envs: int = 4
    """Parallel emulators."""
    buffer_size: int = 100_000
    """Replay capacity in transitions."""
    learning_starts: int = 20_000
    """Transitions in the buffer before updates begin (also after a resume)."""
    batch_size: int = 32
    """Minibatch size."""
    train_every: int = 4
    """Agent steps per gradient update."""
    n_step: int = 3
    """Length of the multi-step return."""
    gamma: float = 0.99
    """Discount factor."""
    lr: float = 1e-4
    """Adam learning rate."""
    adam_eps: float = 1.5e-4
    """Adam epsilon."""
    grad_clip: float = 10.0
    """Gradient norm clip."""
    target_update: int = 8_000
    """Agent steps between target-network syncs."""
    eps_start: float = 1.0
    """Initial exploration rate."""
    eps_end: float = 0.01
    """Final exploration rate."""
    eps_decay_steps: int = 250_000
    """Agent steps over which epsilon decays linearly."""
    explore_zeta_mu: float = 0.0
    """0: one-step epsilon-greedy; above 1: temporally extended epsilon-greedy, each exploratory action
    repeated for n ~ zeta(mu) steps (Dabney et al. 2021 use mu = 2)."""
    checkpoint_every: int = 50_000
    """Agent steps between checkpoints (and agent exports)."""
    seed: int = 0
    """Seed of environments, network initialisation, exploration and sampling."""
    torch_threads: int = 0
    """CPU threads for torch (0: torch's default)."""
    method: str = "ddqn"
    """``"ddqn"``, or ``"sa-ddqn"`` to add the SA-DQN regulariser (seed 001, Eq. 7) to the TD loss."""
    sa_kappa: float = 0.005
    """Weight of the SA regulariser (SA-DQN configs: 0.005; BankHeist 0.02, RoadRunner 0.01)."""
    sa_eps: float = 1 / 255
    """Final l-inf radius of the SA regulariser, in [0, 1] pixel units."""
    sa_bound: str = "ibp"
    """Inner maximum of the regulariser: ``"ibp"`` (certified upper bound) or ``"pgd"`` (attack)."""
    sa_pgd_steps: int = 3
    """PGD steps when ``sa_bound`` is ``"pgd"``."""
    sa_margin_c: float = 1.0
    """Hinge level c of Eq. 7: margins below -c are not penalised."""
    sa_eps_ramp_start: int = 0
    """Agent step at which the radius starts growing from 0; the regulariser is off until then (radius 0)."""
    sa_eps_ramp_steps: int = 100_000
    """Agent steps over which the radius grows linearly to ``sa_eps``."""
    init_agent: str = ""
    """Agent stem whose weights initialise the networks (fine-tuning), or empty to train from scratch."""
    continue_agent: bool = False
    """With ``init_agent`` of the same game and method: continue that agent's training (its agent-step count, and so
    the epsilon and radius schedules, its updates, CPU time and learning curve) instead of starting a fine-tuning run
    at step 0. For an agent whose run folder is gone: only the replay buffer (refilled first) and the optimiser
    state are lost."""

    def __post_init__(self) -> None:
        get_game(self.game)
        if self.network not in NETWORKS:
            raise ValueError(f"unknown network {self.network!r}; choose one of {', '.join(NETWORKS)}")
        for name in ("total_steps", "num_envs", "frame_stack", "buffer_size", "batch_size", "train_every",
                     "n_step", "target_update", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        check_zeta_mu(self.explore_zeta_mu, "explore_zeta_mu")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.sa_bound not in SA_BOUNDS:
            raise ValueError(f"unknown sa_bound {self.sa_bound!r}; choose one of {', '.join(SA_BOUNDS)}")
        if not 0.0 < self.sa_eps <= 1.0:
            raise ValueError(f"sa_eps must lie in (0, 1], got {self.sa_eps}")
        if self.sa_kappa < 0 or self.sa_margin_c < 0 or self.sa_pgd_steps <= 0:
            raise ValueError("sa_kappa and sa_margin_c must be >= 0 and sa_pgd_steps positive")
        for name in ("learning_starts", "eps_decay_steps", "torch_threads", "seed", "sa_eps_ramp_start",
                     "sa_eps_ramp_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("eps_start", "eps_end", "gamma"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.lr <= 0 or self.adam_eps <= 0 or self.grad_clip <= 0:
            raise ValueError("lr, adam_eps and grad_clip must be positive")
        if self.continue_agent and not self.init_agent:
            raise ValueError("continue_agent needs init_agent (the agent whose training to continue)")
        if self.learning_starts > self.buffer_size:
            raise ValueError(f"learning_starts ({self.learning_starts}) cannot exceed buffer_size ({self.buffer_size})")


def double_dqn_targets(q_online_next: torch.Tensor, q_target_next: torch.Tensor, returns: torch.Tensor,
                       discounts: torch.Tensor, dones: torch.Tensor) -> torch.Tensor:
    """Double-DQN n-step targets: the online network picks the action, the target network values it."""
    best = q_online_next.argmax(dim=1, keepdim=True)
    bootstrap = q_target_next.gather(1, best).squeeze(1)
    return returns + discounts * (1.0 - dones) * bootstrap


@dataclass
class RunState:
    """Counters saved with every checkpoint."""

    env_step: int = 0
    """Agent steps taken so far (summed over environments)."""
    updates: int = 0
    """Gradient updates applied so far."""
    episodes: int = 0
    """Training episodes finished so far."""
    cpu_seconds: float = 0.0
    """Process CPU time spent training, over every resume."""
    wall_seconds: float = 0.0
    """Wall-clock time spent training, over every resume."""
    resumes: int = 0
    """Times the run was resumed from a checkpoint (also seeds the environments of each resume)."""
    fine_tuned_from: str = ""
    """``stem@sha256`` of the agent this run started from; empty when trained from scratch."""


def checkpoint_path(run_dir: str | Path) -> Path:
    """Where the run in ``run_dir`` keeps its checkpoint (a run folder holds a run when this file exists)."""
    return Path(run_dir) / "checkpoint.safetensors"


class DDQNTrainer:
    """Trains one DDQN agent in ``run_dir``; call :meth:`train`."""

    def __init__(self, config: DDQNConfig, run_dir: str | Path, resume: bool = False,
                 agent_out: str | Path | None = None, device: str | None = None, progress: bool = True) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.agent_out = Path(agent_out) if agent_out else self.run_dir / "agent"
        self.device = resolve_device(device)
        self.show_progress = progress
        self.checkpoint_path = checkpoint_path(self.run_dir)
        self.curve_path = self.run_dir / "learning_curve.csv"
        self.replay_path = self.run_dir / "replay.safetensors"
        if resume and not self.checkpoint_path.exists():
            raise FileNotFoundError(f"cannot resume: no checkpoint at {self.checkpoint_path}; start without --resume")
        if not resume and self.checkpoint_path.exists():
            raise FileExistsError(f"{self.run_dir} already holds a run; pass --resume to continue it or choose another run dir")
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        torch.manual_seed(config.seed)
        spec = get_game(config.game)
        self.spec = spec
        self.online = build_network(config.network, config.frame_stack, spec.n_actions).to(self.device)
        self.target = build_network(config.network, config.frame_stack, spec.n_actions).to(self.device)
        self.target.load_state_dict(self.online.state_dict())
        # the fused kernel is ~15x faster than the default per-tensor loop on CPU
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.lr, eps=config.adam_eps, fused=True)
        self.rng = np.random.default_rng(config.seed)
        self.state = RunState()
        self.buffer = ReplayBuffer(config.buffer_size, (config.frame_stack, 84, 84), config.num_envs, config.n_step,
                                   config.gamma)
        if resume:
            self._load_checkpoint()
            if self.replay_path.exists():
                self.buffer.restore(load_numpy_file(str(self.replay_path)))
        elif config.init_agent:
            self._initialise_from(config.init_agent)
        self.stop_requested = False
        """Set by SIGINT or SIGTERM during :meth:`train`, which then checkpoints and returns."""

    # -- checkpoints -------------------------------------------------------------------------
    def _save_checkpoint(self) -> None:
        tensors = {f"online.{k}": v.detach().cpu() for k, v in self.online.state_dict().items()}
        tensors.update({f"target.{k}": v.detach().cpu() for k, v in self.target.state_dict().items()})
        for index, slots in self.optimizer.state_dict()["state"].items():
            tensors.update({f"optim.{index}.{name}": torch.as_tensor(v).detach().cpu().reshape(-1) if name == "step"
                            else v.detach().cpu() for name, v in slots.items()})
        tensors["rng.torch"] = torch.get_rng_state()
        meta = {"run_state": json.dumps(dataclasses.asdict(self.state)),
                "numpy_rng": json.dumps(self.rng.bit_generator.state),
                "config": json.dumps(dataclasses.asdict(self.config))}
        with atomic_path(self.checkpoint_path) as tmp:
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)

    def _save_replay(self) -> None:
        """The replay buffer beside the checkpoint (uint8 frames; about 1.4 GB for 100k transitions)."""
        with atomic_path(self.replay_path) as tmp:
            save_numpy_file(self.buffer.arrays(), str(tmp))

    def _load_checkpoint(self) -> None:
        with safe_open(str(self.checkpoint_path), framework="pt") as handle:
            meta = handle.metadata()
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        saved = json.loads(meta["config"])
        for key in ("game", "network", "frame_stack", "method"):
            if saved.get(key, "ddqn") != getattr(self.config, key):
                raise ValueError(f"checkpoint {self.checkpoint_path} was trained with {key}={saved[key]!r}, "
                                 f"not {getattr(self.config, key)!r}")
        self.online.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("online.")})
        self.target.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("target.")})
        optim_state = self.optimizer.state_dict()
        slots: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                slots.setdefault(int(index), {})[name] = value.reshape(()) if name == "step" else value.to(self.device)
        optim_state["state"] = slots
        self.optimizer.load_state_dict(optim_state)
        torch.set_rng_state(tensors["rng.torch"])
        self.rng.bit_generator.state = json.loads(meta["numpy_rng"])
        self.state = RunState(**json.loads(meta["run_state"]))
        self.state.resumes += 1
        self._truncate_curve()

    def _initialise_from(self, stem: str) -> None:
        network, card = load_agent(stem, self.device)
        mine = (self.spec.name, self.config.network, self.config.frame_stack)
        if (card.game, card.network, card.frame_stack) != mine:
            raise ValueError(f"cannot fine-tune from {stem}: it is a {card.game} {card.network} agent with "
                             f"{card.frame_stack} frame(s), this run is {mine[0]} {mine[1]} with {mine[2]}")
        self.online.load_state_dict(network.state_dict())
        self.target.load_state_dict(network.state_dict())
        if not self.config.continue_agent:
            self.state.fine_tuned_from = f"{stem}@{card.sha256}"
            return
        if card.method != self.config.method:
            raise ValueError(f"cannot continue {stem}: it was trained with method {card.method!r}, this run uses "
                             f"{self.config.method!r}; fine-tune from it instead (continue_agent=False)")
        curve = Path(stem).with_suffix(".curve.csv")
        rows = []
        if curve.exists():
            with curve.open(newline="") as handle:
                rows = list(csv.DictReader(handle))
        self.state = RunState(env_step=card.env_steps, updates=card.updates, episodes=len(rows),
                              cpu_seconds=card.cpu_hours * 3600,
                              wall_seconds=float(rows[-1]["wall_seconds"]) if rows else 0.0,
                              fine_tuned_from=card.fine_tuned_from)
        if rows:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.curve_path) as tmp:
                shutil.copyfile(curve, tmp)

    def _truncate_curve(self) -> None:
        """Drop learning-curve rows logged after the checkpoint (they will be replayed)."""
        if not self.curve_path.exists():
            return
        with open(self.curve_path, newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if int(row["env_step"]) <= self.state.env_step]
        lines = [",".join(CURVE_FIELDS)] + [",".join(row[f] for f in CURVE_FIELDS) for row in rows]
        write_text(self.curve_path, "\n".join(lines) + "\n")

    def export_agent(self) -> ModelCard:
        """Write the online network, its model card and learning curve beside ``agent_out`` (atomically)."""
        card = ModelCard(
            game=self.spec.name, method=self.config.method, network=self.config.network, frame_stack=self.config.frame_stack,
            actions=list(self.spec.actions),
            preprocessing={"frameskip": 4, "maxpool": True, "noop_max": 30, "grayscale": "ale",
                           "crop": "sa-dqn", "crop_shift": self.spec.crop_shift, "size": 84,
                           "repeat_action_probability": 0.0},
            env_steps=self.state.env_step, updates=self.state.updates,
            cpu_hours=round(self.state.cpu_seconds / 3600, 4),
            gpu_hours=round(self.state.wall_seconds / 3600, 4) if self.device.type == "cuda" else 0.0,
            seed=self.config.seed, training_config=dataclasses.asdict(self.config),
            fine_tuned_from=self.state.fine_tuned_from,
        )
        card = save_agent(self.agent_out, self.online, card)
        if self.curve_path.exists():
            with atomic_path(self.agent_out.with_suffix(".curve.csv")) as tmp:
                shutil.copyfile(self.curve_path, tmp)
        return card

    # -- training ----------------------------------------------------------------------------
    def _greedy(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.online(to_network_input(obs, self.device)).argmax(dim=1).cpu().numpy()

    def _update(self, buffer: ReplayBuffer) -> float:
        batch = buffer.sample(self.config.batch_size, self.rng)
        obs = to_network_input(batch.obs, self.device)
        next_obs = to_network_input(batch.next_obs, self.device)
        as_tensor = lambda a: torch.as_tensor(a, device=self.device)
        with torch.no_grad():
            targets = double_dqn_targets(self.online(next_obs), self.target(next_obs), as_tensor(batch.returns),
                                         as_tensor(batch.discounts), as_tensor(batch.dones))
        q_all = self.online(obs)
        q = q_all.gather(1, as_tensor(batch.actions).unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q, targets)
        cfg = self.config
        eps = 0.0 if cfg.method != "sa-ddqn" else sa_eps_at(self.state.env_step, cfg.sa_eps, cfg.sa_eps_ramp_start,
                                                             cfg.sa_eps_ramp_steps)
        if eps > 0:  # as in SA-DQN, no regulariser while the radius is 0
            loss = loss + cfg.sa_kappa * sa_regularizer(self.online, obs, eps, cfg.sa_bound, cfg.sa_margin_c,
                                                        cfg.sa_pgd_steps, greedy=q_all.detach().argmax(dim=1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.online.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return loss.item()

    def _append_curve(self, rows: list[tuple]) -> None:
        new = not self.curve_path.exists()
        with open(self.curve_path, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(CURVE_FIELDS)
            writer.writerows(rows)

    def train(self, deadline: float | None = None) -> ModelCard:
        """Train until ``total_steps``, a stop signal or the wall-clock ``deadline`` (a ``time.time()`` value).

        Checkpoints and exports the agent on the way out.
        """
        cfg = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.run_dir / "config.json", dataclasses.asdict(cfg))
        env_seed = int(np.random.SeedSequence([cfg.seed, self.state.resumes, self.state.env_step]).generate_state(1)[0]
                       % 2**31)
        envs = AtariEnvs(EnvConfig(cfg.game, num_envs=cfg.num_envs, frame_stack=cfg.frame_stack, training=True))
        buffer = self.buffer
        progress = Progress(cfg.total_steps, self.state.env_step, f"{cfg.game} {cfg.method}", enabled=self.show_progress,
                            deadline=deadline)
        cpu0, wall0 = time.process_time(), time.time()
        cpu_base, wall_base = self.state.cpu_seconds, self.state.wall_seconds
        losses: list[float] = []
        next_checkpoint = (self.state.env_step // cfg.checkpoint_every + 1) * cfg.checkpoint_every
        update_credit = 0
        with StopSignals(f"{cfg.game} {cfg.method} training") as stop:
            try:
                obs = envs.reset(seed=env_seed)
                explorer = EpsilonGreedy(cfg.num_envs, self.spec.n_actions, cfg.explore_zeta_mu)
                while (self.state.env_step < cfg.total_steps and not stop.requested
                       and (deadline is None or time.time() < deadline)):
                    epsilon = linear_epsilon(self.state.env_step, cfg.eps_start, cfg.eps_end, cfg.eps_decay_steps)
                    actions = explorer.act(self._greedy(obs), epsilon, self.rng)
                    step = envs.step(actions)
                    explorer.end_runs(step.episode_end)
                    buffer.add(obs, actions, step.reward, step.next_obs, step.terminal, step.episode_end)
                    obs = step.obs
                    previous_step = self.state.env_step
                    self.state.env_step += cfg.num_envs
                    self.state.cpu_seconds = cpu_base + time.process_time() - cpu0
                    self.state.wall_seconds = wall_base + time.time() - wall0
                    if len(buffer) >= cfg.learning_starts:
                        update_credit += cfg.num_envs
                        while update_credit >= cfg.train_every:
                            losses.append(self._update(buffer))
                            self.state.updates += 1
                            update_credit -= cfg.train_every
                    if self.state.env_step // cfg.target_update > previous_step // cfg.target_update:
                        self.target.load_state_dict(self.online.state_dict())
                    if step.finished:
                        loss = float(np.mean(losses[-100:])) if losses else float("nan")
                        self._append_curve([(self.state.env_step, ret, length, round(epsilon, 5), round(loss, 6),
                                             round(self.state.wall_seconds, 1)) for ret, length in step.finished])
                        self.state.episodes += len(step.finished)
                        progress.record_returns([ret for ret, _ in step.finished])
                    progress.update(self.state.env_step, epsilon=epsilon, updates=self.state.updates)
                    if self.state.env_step >= next_checkpoint:
                        self._save_checkpoint()
                        self.export_agent()
                        next_checkpoint += cfg.checkpoint_every
                self._save_checkpoint()
                self._save_replay()
                return self.export_agent()
            finally:
                progress.close()
                envs.close()
                self.stop_requested = stop.requested
