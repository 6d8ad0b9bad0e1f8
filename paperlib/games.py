"""Registry of the Atari games used by the compendium.

Each entry holds the ALE ROM id, the SA-DQN crop shift (rows skipped below row 21 before the
168x168 crop, see :mod:`paperlib.preprocess`), the minimal action set and the returns of the
SA-DQN released agents that the core paper analysed (natural return over 10 episodes).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GameSpec:
    """One Atari game and the facts the compendium needs about it."""

    name: str
    """Display name, also the key used on the command line (case-insensitive)."""
    rom: str
    """ALE ROM id as understood by ``ale_py`` (e.g. ``"pong"``)."""
    crop_shift: int
    """Extra rows skipped by the SA-DQN crop: rows ``21 + crop_shift`` to ``21 + crop_shift + 168``."""
    actions: tuple[str, ...]
    """ALE minimal action set, in ALE order; index = action id of the agent."""
    paper_scores: dict[str, float] = field(default_factory=dict)
    """Natural returns of the SA-DQN released agents (keys ``"ddqn"``, ``"sa-ddqn"``); empty if not in the paper."""
    paper_pgd10_scores: dict[str, float] = field(default_factory=dict)
    """Returns of the same agents under PGD-10 at eps = 1/255 (Zhang et al. 2020)."""

    @property
    def n_actions(self) -> int:
        return len(self.actions)

    @property
    def has_fire(self) -> bool:
        return "FIRE" in self.actions


_SIX = ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")
_FULL = (
    "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
    "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE",
    "DOWNLEFTFIRE",
)

GAMES: dict[str, GameSpec] = {
    spec.name.lower(): spec
    for spec in (
        GameSpec("Pong", "pong", 10, _SIX, {"ddqn": 21.0, "sa-ddqn": 21.0}, {"ddqn": -21.0, "sa-ddqn": 21.0}),
        GameSpec("Freeway", "freeway", 0, ("NOOP", "UP", "DOWN"), {"ddqn": 34.0, "sa-ddqn": 30.0},
                 {"ddqn": 0.0, "sa-ddqn": 30.0}),
        GameSpec("BankHeist", "bank_heist", 0, _FULL, {"ddqn": 1308.4, "sa-ddqn": 1235.4},
                 {"ddqn": 56.4, "sa-ddqn": 1232.4}),
        GameSpec("RoadRunner", "road_runner", 20, _FULL, {"ddqn": 45534.0, "sa-ddqn": 44638.0},
                 {"ddqn": 0.0, "sa-ddqn": 44732.0}),
        GameSpec("Boxing", "boxing", 0, _FULL),
        GameSpec("SpaceInvaders", "space_invaders", 0, _SIX),
        GameSpec("Carnival", "carnival", 0, _SIX),
    )
}


def get_game(name: str) -> GameSpec:
    """Look a game up by name (case-insensitive); unknown names raise a ``ValueError`` listing the known ones."""
    try:
        return GAMES[name.lower()]
    except KeyError:
        known = ", ".join(spec.name for spec in GAMES.values())
        raise ValueError(f"unknown game {name!r}; known games: {known}") from None
