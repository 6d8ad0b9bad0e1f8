"""Figures (PNG + PDF) and tables (CSV + Markdown) written to stable paths, atomically."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from paperlib.atomic import atomic_path, write_text


def save_figure(fig, stem: str | Path, dpi: int = 150) -> list[Path]:
    """Save a matplotlib figure as ``stem.png`` and ``stem.pdf``; returns both paths."""
    paths = []
    for suffix in (".png", ".pdf"):
        path = Path(stem).with_suffix(suffix)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix[1:], dpi=dpi, bbox_inches="tight", metadata={"CreationDate": None}
                        if suffix == ".pdf" else None)
        paths.append(path)
    return paths


def save_table(table: pd.DataFrame, stem: str | Path, float_format: str = "%.2f") -> list[Path]:
    """Save a table as ``stem.csv`` and ``stem.md`` (GitHub Markdown); returns both paths."""
    csv_path, md_path = Path(stem).with_suffix(".csv"), Path(stem).with_suffix(".md")
    write_text(csv_path, table.to_csv(index=False, float_format=float_format))
    write_text(md_path, table.to_markdown(index=False, floatfmt=float_format.lstrip("%")) + "\n")
    return [csv_path, md_path]
