"""Command-line options generated from a typed dataclass config and its field docstrings."""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import textwrap
from fractions import Fraction
from typing import Any


def _number(text: str) -> float:
    """A float written as a decimal or a fraction such as ``1/255``."""
    return float(Fraction(text))


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass (``name: type = default`` then ``\"\"\"doc\"\"\"``)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)):
            text = re.sub(r":\w+:`~?([^`]+)`", r"\1", following.value.value).replace("``", "")
            docs[node.target.id] = " ".join(text.split())
    return docs


def add_config_options(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """Add ``--field-name`` for every field of ``cls``; unset options stay absent from the namespace."""
    docs = field_docs(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        type_name = field.type if isinstance(field.type, str) else field.type.__name__
        default = "" if field.default is dataclasses.MISSING else f" (default: {field.default})"
        kind = {"bool": {"action": argparse.BooleanOptionalAction},
                "int": {"type": int}, "float": {"type": _number}, "str": {"type": str}}[type_name]
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, default=argparse.SUPPRESS,
                            help=docs.get(field.name, "") + default, **kind)


def config_from_args(cls: type, args: argparse.Namespace, base: dict[str, Any] | None = None) -> Any:
    """Build ``cls`` from ``base`` values overridden by the options given on the command line."""
    values = dict(base or {})
    values.update({f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)})
    return cls(**values)
