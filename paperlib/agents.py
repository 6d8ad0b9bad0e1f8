"""Agent files: a safetensors weight file plus a JSON model card.

``<stem>.safetensors`` holds the Q-network's ``state_dict``; ``<stem>.json`` holds the
:class:`ModelCard`. Loading never unpickles anything: it checks that both files exist, that
the weights' sha256 matches the card, and that every tensor has the shape of the network the
card describes, and names the offending file otherwise.
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from paperlib.atomic import atomic_path, write_json
from paperlib.games import get_game
from paperlib.networks import build_network
from paperlib.paths import AGENTS_DIR
from paperlib.provenance import __version__, git_commit, sha256_file

class AgentFileError(RuntimeError):
    """An agent file is missing, corrupted or inconsistent with its model card."""


@dataclass
class Evaluation:
    """Unclipped evaluation returns (the paper's protocol: 10 episodes, no training wrappers)."""

    mean: float
    """Mean return."""
    std: float
    """Population standard deviation of the returns."""
    episodes: int
    """Number of episodes."""
    returns: list[float]
    """Every episode's return."""
    seed: int
    """Environment seed of the evaluation."""
    epsilon: float
    """Exploration rate during evaluation."""
    attack: str = "none"
    """Attack applied to every observation (e.g. ``"pgd-10 eps=1/255"``), or ``"none"``."""


@dataclass
class ModelCard:
    """Everything needed to rebuild, trust and cite one agent."""

    game: str
    """Game name (see :mod:`paperlib.games`)."""
    method: str
    """Training method: ``"ddqn"`` or ``"sa-ddqn"``."""
    network: str
    """Network name (see :data:`paperlib.networks.NETWORKS`)."""
    frame_stack: int
    """Frames per observation."""
    actions: list[str]
    """Action set; index = network output."""
    preprocessing: dict[str, Any]
    """Frameskip, max-pool, no-op starts, crop shift, frame size."""
    env_steps: int
    """Agent steps (4 frames each) trained."""
    updates: int
    """Gradient updates performed."""
    cpu_hours: float
    """Process CPU time spent training, in hours (all threads)."""
    gpu_hours: float
    """Wall time spent on a GPU, in hours."""
    seed: int
    """Training seed."""
    sha256: str = ""
    """sha256 of the safetensors weight file (filled by :func:`save_agent`)."""
    evaluation: Evaluation | None = None
    """Latest natural evaluation (``paperlib evaluate``), if any."""
    robustness: dict[str, Evaluation] = field(default_factory=dict)
    """Evaluations under attack (``paperlib evaluate --attack pgd``), by attack label."""
    fine_tuned_from: str = ""
    """``stem@sha256`` of the agent whose weights initialised training, or empty when trained from scratch."""
    training_config: dict[str, Any] = field(default_factory=dict)
    """The trainer's configuration."""
    paperlib_version: str = __version__
    """paperlib version that wrote the card."""
    git_commit: str = ""
    """Git commit of the code that wrote the card."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelCard":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown model card fields: {sorted(unknown)}")
        data = dict(data)
        if data.get("evaluation") is not None:
            data["evaluation"] = Evaluation(**data["evaluation"])
        data["robustness"] = {label: Evaluation(**ev) for label, ev in data.get("robustness", {}).items()}
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def agent_paths(stem: str | Path) -> tuple[Path, Path]:
    """(weights, card) paths for an agent stem such as ``data/agents/pong-ddqn``."""
    stem = Path(stem)
    if stem.suffix in (".safetensors", ".json"):
        stem = stem.with_suffix("")
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_agent(stem: str | Path, network: torch.nn.Module, card: ModelCard) -> ModelCard:
    """Write weights and card atomically; returns the card with ``sha256`` and ``git_commit`` filled."""
    weights_path, card_path = agent_paths(stem)
    tensors = {name: t.detach().cpu().contiguous() for name, t in network.state_dict().items()}
    with atomic_path(weights_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    card = dataclasses.replace(card, sha256=sha256_file(weights_path), git_commit=git_commit(), paperlib_version=__version__)
    write_json(card_path, card.to_dict())
    return card


def read_card(stem: str | Path) -> ModelCard:
    """Read and validate a model card, with a clear error naming the file if it is missing or malformed."""
    weights_path, card_path = agent_paths(stem)
    if not card_path.exists():
        raise AgentFileError(
            f"model card {card_path} not found. An agent is a pair {weights_path.name} + {card_path.name}; "
            f"train one with `paperlib train --game GAME --agent-out {card_path.with_suffix('')}` "
            f"or copy an existing pair into {card_path.parent}/"
        )
    try:
        return ModelCard.from_dict(json.loads(card_path.read_text()))
    except (ValueError, TypeError) as err:
        raise AgentFileError(f"model card {card_path} is corrupted or malformed: {err}") from err


@contextmanager
def _cards_locked(card_path: Path) -> Iterator[None]:
    """Hold an exclusive lock (flock) on the folder of ``card_path`` while a card is read, changed and written,
    so that two processes updating cards there (say a PGD-10 and a PGD-50 evaluation ending together) take
    turns instead of one writing back a card without the other's result."""
    folder = os.open(card_path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


def _rewrite_card(stem: str | Path, change: Callable[[ModelCard], ModelCard], agent_sha256: str | None) -> ModelCard:
    """Read a card, apply ``change`` and write the result atomically, all under the folder's lock; with
    ``agent_sha256`` (always, where a measured result is written), only if the card still describes that weight
    file (see :func:`update_card`)."""
    card_path = agent_paths(stem)[1]
    if not card_path.exists():
        read_card(stem)  # the usual error for a missing card, also where its folder does not exist
    with _cards_locked(card_path):
        card = read_card(stem)
        if agent_sha256 is not None and card.sha256 != agent_sha256:
            raise AgentFileError(f"{card_path} now describes another agent (sha256 {card.sha256[:12]}...) than the one "
                                 f"measured ({agent_sha256[:12]}...): it was replaced meanwhile, e.g. by a campaign's "
                                 "promotion; the card is left as it is. Evaluate the new agent to fill it in")
        card = change(card)
        write_json(card_path, card.to_dict())
    return card


MEASURED_FIELDS = ("evaluation", "robustness")
"""Card fields that hold results measured on the weights: rewriting them needs the sha256 of the weights measured."""


def update_card(stem: str | Path, *, agent_sha256: str | None = None, **changes: Any) -> ModelCard:
    """Rewrite selected fields of an existing card atomically (weights untouched). A change of a measured result
    (:data:`MEASURED_FIELDS`) must pass the ``agent_sha256`` of the weights it was measured on: if the agent file was
    replaced while it was measured, nothing is written (:class:`AgentFileError`), so that a result never lands in
    another agent's card."""
    measured = sorted(set(changes) & set(MEASURED_FIELDS))
    if measured and agent_sha256 is None:
        raise TypeError(f"update_card: changing {', '.join(measured)} needs agent_sha256, the sha256 of the weights "
                        "the result was measured on (e.g. the card's sha256 read before the evaluation)")
    return _rewrite_card(stem, lambda card: dataclasses.replace(card, **changes), agent_sha256)


def add_robustness(stem: str | Path, label: str, evaluation: Evaluation, *, agent_sha256: str) -> ModelCard:
    """Add (or replace) one attacked evaluation in a card, keeping the others as they are at the time of writing
    (``agent_sha256`` as in :func:`update_card`)."""
    return _rewrite_card(stem, lambda card: dataclasses.replace(card, robustness={**card.robustness, label: evaluation}),
                         agent_sha256)


def load_agent(stem: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, ModelCard]:
    """Load an agent, checking existence, sha256 and tensor shapes; returns (network in eval mode, card)."""
    weights_path, card_path = agent_paths(stem)
    card = read_card(stem)
    get_game(card.game)
    if not weights_path.exists():
        raise AgentFileError(f"weight file {weights_path} not found (its model card {card_path} exists); "
                             "restore it from git or retrain the agent")
    digest = sha256_file(weights_path)
    if digest != card.sha256:
        raise AgentFileError(f"weight file {weights_path} is corrupted or was replaced: sha256 {digest[:12]}... "
                             f"does not match {card.sha256[:12]}... in {card_path}")
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as err:
        raise AgentFileError(f"weight file {weights_path} cannot be read as safetensors: {err}") from err
    network = build_network(card.network, card.frame_stack, len(card.actions))
    expected = network.state_dict()
    if set(tensors) != set(expected):
        raise AgentFileError(f"weight file {weights_path} does not hold a {card.network} network: "
                             f"missing {sorted(set(expected) - set(tensors))}, extra {sorted(set(tensors) - set(expected))}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise AgentFileError(f"weight file {weights_path}: tensor {name} has shape {tuple(tensor.shape)}, "
                                 f"the card's network needs {tuple(expected[name].shape)}")
    network.load_state_dict({k: v.float() for k, v in tensors.items()})
    return network.to(device).eval(), card


def list_agents(directory: str | Path = AGENTS_DIR) -> list[Path]:
    """Stems of every agent (card present) in ``directory``, sorted."""
    return sorted(p.with_suffix("") for p in Path(directory).glob("*.json"))


def find_agents(games: list[str], directory: str | Path = AGENTS_DIR,
                methods: tuple[str, ...] = ("ddqn", "sa-ddqn")) -> dict[tuple[str, str], Path]:
    """Stems ``<game>-<method>`` present in ``directory``, keyed by (game name, method); prints what is missing."""
    found = {}
    for game in games:
        name = get_game(game).name
        for method in methods:
            stem = Path(directory) / f"{name.lower()}-{method}"
            present = agent_paths(stem)[1].exists()
            print(f"{name:12s} {method:8s} {'present' if present else 'missing: train it with paperlib campaign'}")
            if present:
                found[(name, method)] = stem
    return found
