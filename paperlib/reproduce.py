"""Execute the book's notebooks with papermill, with their default or quick parameter sets.

The parameter sets live in ``notebooks/parameters.yml``; executed notebooks are written to
``book/executed/`` (default) or ``_build/quick/notebooks/`` (quick), and jupyter-book renders
them without executing again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from paperlib.paths import EXECUTED_DIR, NOTEBOOKS_DIR, REPO_ROOT

QUICK_DIR = REPO_ROOT / "_build" / "quick" / "notebooks"
"""Where quick executions go (never into the book)."""


@dataclass(frozen=True)
class NotebookSpec:
    """One notebook of the book and its parameter sets."""

    name: str
    """File stem in ``notebooks/``."""
    title: str
    """Chapter title."""
    default: dict[str, Any] = field(default_factory=dict)
    """Parameters of the published run."""
    quick: dict[str, Any] = field(default_factory=dict)
    """Parameters of the fast run used by CI and the nbval tests."""

    @property
    def source(self) -> Path:
        return NOTEBOOKS_DIR / f"{self.name}.ipynb"


def load_notebook_specs(path: Path = NOTEBOOKS_DIR / "parameters.yml") -> list[NotebookSpec]:
    """Read the notebook registry."""
    raw = yaml.safe_load(path.read_text())
    return [NotebookSpec(name=name, **entry) for name, entry in raw.items()]


def run_notebooks(specs: list[NotebookSpec], quick: bool = False, only: list[str] | None = None,
                  output_dir: Path | None = None) -> list[Path]:
    """Execute the selected notebooks; unknown names raise before anything runs."""
    import papermill

    known = {spec.name for spec in specs}
    unknown = set(only or []) - known
    if unknown:
        raise ValueError(f"unknown notebook(s) {sorted(unknown)}; known: {sorted(known)}")
    selected = [spec for spec in specs if not only or spec.name in only]
    out_dir = Path(output_dir).resolve() if output_dir else (QUICK_DIR if quick else EXECUTED_DIR)
    written = []
    for spec in selected:
        if not spec.source.exists():
            raise FileNotFoundError(f"notebook {spec.source} listed in parameters.yml does not exist")
        target = out_dir / spec.source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        parameters = spec.quick if quick else spec.default
        start = time.time()
        print(f"executing {spec.source.relative_to(REPO_ROOT)} -> {target.relative_to(REPO_ROOT)} with {parameters}", flush=True)
        tmp = target.with_name(f".{target.name}.tmp.ipynb")
        papermill.execute_notebook(str(spec.source), str(tmp), parameters=parameters, cwd=str(REPO_ROOT),
                                   kernel_name="python3", progress_bar=False)
        tmp.replace(target)
        print(f"  done in {time.time() - start:.0f} s", flush=True)
        written.append(target)
    return written
