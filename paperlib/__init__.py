"""paperlib: the code behind the compendium for "Investigating Vulnerabilities of Deep Neural Policies".

Public API: games (:func:`get_game`), environments (:class:`AtariEnvs`), networks
(:func:`build_network`), agent files (:func:`load_agent`, :func:`save_agent`) and the
DDQN trainer (:class:`DDQNTrainer`).
"""
from paperlib.agents import ModelCard, load_agent, save_agent
from paperlib.ddqn import DDQNConfig, DDQNTrainer
from paperlib.envs import AtariEnvs, EnvConfig
from paperlib.games import GAMES, get_game
from paperlib.networks import build_network
from paperlib.provenance import __version__

__all__ = ["GAMES", "AtariEnvs", "DDQNConfig", "DDQNTrainer", "EnvConfig", "ModelCard", "__version__",
           "build_network", "get_game", "load_agent", "save_agent"]
