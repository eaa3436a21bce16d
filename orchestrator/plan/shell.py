"""Shell quoting at the template boundary: every value becomes exactly one shell word."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import Any


class Shell(str):
    """A fragment already valid as shell text; templates pass it through unquoted."""


def quote(value: Any) -> Shell:
    """One value as one shell word."""
    if isinstance(value, Shell):
        return value
    if isinstance(value, bool):
        value = "true" if value else "false"
    return Shell(shlex.quote(str(value)))


def words(values: Iterable[Any]) -> Shell:
    """Several values as several shell words."""
    return Shell(" ".join(quote(v) for v in values))


def finalize(value: Any) -> Shell:
    """jinja2 finalize hook: lists become quoted words, everything else one quoted word."""
    if isinstance(value, (list, tuple)):
        return words(value)
    return quote(value)


def home_path(path: str) -> Shell:
    """A host path where a leading '~/' becomes "$HOME"/ (docker needs absolute paths)."""
    if path.startswith("~/"):
        return Shell('"$HOME"/' + shlex.quote(path[2:]))
    return quote(path)
