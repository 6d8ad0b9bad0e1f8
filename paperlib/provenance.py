"""Provenance recorded with every agent and result: versions, git commit, hashes."""
from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from paperlib.paths import REPO_ROOT

__version__ = "0.1.0"
"""paperlib's version; part of every cache key."""

_PACKAGES = ("torch", "numpy", "gymnasium", "ale-py", "safetensors", "scipy", "matplotlib")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_commit(root: str | Path = REPO_ROOT) -> str:
    """The HEAD commit of the repository at ``root`` (with ``-dirty`` if a tracked file outside ``data/`` has
    changes), or ``"unknown"``. Changes under ``data/`` do not count: the compendium writes there itself (the
    campaign log, model cards, caches), and the agents a result used are recorded by their sha256."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)data"],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that determine the numbers."""
    versions = {"python": platform.python_version(), "paperlib": __version__}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
