"""Stable locations inside the repository, independent of the working directory."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""Root of the compendium checkout."""
AGENTS_DIR = REPO_ROOT / "data" / "agents"
"""Shipped agents: ``<game>-<method>.safetensors`` + ``.json`` (+ ``.curve.csv``)."""
CACHE_DIR = REPO_ROOT / "data" / "cache"
"""Cached intermediate results, keyed by agent hash, parameters and paperlib version."""
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
"""Parameterised source notebooks."""
EXECUTED_DIR = REPO_ROOT / "book" / "executed"
"""Notebooks executed by :mod:`paperlib.reproduce`, rendered by jupyter-book."""
