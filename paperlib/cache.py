"""On-disk cache of expensive intermediate results.

An entry is keyed by the sha256 of a canonical JSON of (name, parameters, agent sha256s,
paperlib version); changing any of them computes afresh. Values are dictionaries of numpy
arrays stored as ``.npz`` (read with ``allow_pickle=False``) plus a ``.json`` with the
key's content and provenance; both are written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from paperlib.atomic import atomic_path, write_json
from paperlib.paths import AGENTS_DIR, CACHE_DIR
from paperlib.provenance import __version__, git_commit, package_versions


def cache_key(name: str, params: dict[str, Any], agent_hashes: list[str]) -> str:
    """Hex key of one cached computation."""
    content = {"name": name, "params": params, "agents": sorted(agent_hashes), "paperlib": __version__}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder in use: ``cache_dir``, else ``$PAPERLIB_CACHE_DIR``, else ``data/cache``."""
    return Path(cache_dir or os.environ.get("PAPERLIB_CACHE_DIR") or CACHE_DIR)


def agent_cache_dir(stem: str | Path) -> Path:
    """The cache folder for results computed from the agent file ``stem`` (its evaluations, sampled states, maps and
    attacks): ``$PAPERLIB_CACHE_DIR`` when set; the committed ``data/cache`` for the compendium's own agents (those in
    ``data/agents``); else a ``cache`` folder beside the agent, e.g. ``runs/<run>/cache`` for a campaign's candidate
    or your own agent, so that working with an agent that is not shipped leaves the committed cache as it was
    (:func:`copy_agent_entries` carries entries over when an agent is promoted)."""
    stem = Path(stem)
    if os.environ.get("PAPERLIB_CACHE_DIR") or stem.resolve().parent == AGENTS_DIR.resolve():
        return cache_root()
    return stem.parent / "cache"


def _entry(name: str, params: dict[str, Any], agent_hashes: list[str], cache_dir: str | Path | None) -> tuple[Path, str]:
    return cache_root(cache_dir) / name, cache_key(name, params, agent_hashes)


def partial_path(name: str, params: dict[str, Any], agent_hashes: list[str],
                 cache_dir: str | Path | None = None) -> Path:
    """Where a long computation of this entry keeps its checkpoint until it finishes: ``<name>/partial/<key>.npz``."""
    folder, key = _entry(name, params, agent_hashes, cache_dir)
    return folder / "partial" / f"{key}.npz"


def cached(name: str, params: dict[str, Any], agent_hashes: list[str], compute: Callable[[], dict[str, np.ndarray]],
           cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """Return the cached arrays for this key, computing and storing them on a miss.

    The cache lives in ``cache_dir``, else ``$PAPERLIB_CACHE_DIR``, else ``data/cache``.
    """
    folder, key = _entry(name, params, agent_hashes, cache_dir)
    data_path, meta_path = folder / f"{key}.npz", folder / f"{key}.json"
    if data_path.exists() and meta_path.exists():
        with np.load(data_path, allow_pickle=False) as stored:
            return {k: stored[k] for k in stored.files}
    result = {k: np.asarray(v) for k, v in compute().items()}
    with atomic_path(data_path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **result)
    write_json(meta_path, {"name": name, "params": params, "agents": sorted(agent_hashes),
                           "git_commit": git_commit(), "versions": package_versions()})
    return result


def copy_agent_entries(name: str, agent_sha256: str, source_dir: str | Path, destination_dir: str | Path) -> int:
    """Copy the finished entries of ``name`` computed for the one agent ``agent_sha256`` from the cache folder
    ``source_dir`` to ``destination_dir`` (e.g. a promoted agent's evaluations, from its run folder's cache to the
    compendium's) and return how many. The ``.npz`` goes first: an entry is complete only once its ``.json`` exists.
    Entries already there are kept (same key, same content)."""
    source, destination = Path(source_dir) / name, Path(destination_dir) / name
    if source.resolve() == destination.resolve() or not source.is_dir():
        return 0
    copied = 0
    for meta in sorted(source.glob("*.json")):
        data = meta.with_suffix(".npz")
        if json.loads(meta.read_text()).get("agents") != [agent_sha256] or not data.exists():
            continue
        if not (destination / meta.name).exists():
            for src in (data, meta):
                with atomic_path(destination / src.name) as tmp:
                    shutil.copyfile(src, tmp)
            copied += 1
    return copied
