"""Reads YAML files keeping the line of every key, for errors that point at the source."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orchestrator.errors import ConfigError


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML mapping plus the line number of each key path."""

    path: Path
    data: dict[str, Any]
    lines: dict[tuple, int] = field(default_factory=dict)

    def line_of(self, key_path: Sequence) -> int:
        """The line of the deepest known prefix of key_path (1 if none)."""
        for end in range(len(key_path), 0, -1):
            found = self.lines.get(tuple(key_path[:end]))
            if found:
                return found
        return 1

    def error(self, key_path: Sequence, problem: str) -> ConfigError:
        """A ConfigError in `file:line: key.path: problem` form."""
        dotted = ".".join(str(k) for k in key_path) or "(top level)"
        return ConfigError(f"{self.path}:{self.line_of(key_path)}: {dotted}: {problem}")


def read_yaml(path: Path) -> YamlDocument:
    """Parse one YAML file whose top level must be a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: (top level): expected a mapping of keys, got {type(data).__name__}")
    lines: dict[tuple, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return YamlDocument(path=path, data=data, lines=lines)


def _record_lines(node: yaml.Node, prefix: tuple, lines: dict[tuple, int]) -> None:
    """Walk a composed YAML node tree recording the line of every key."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = (*prefix, key_node.value)
            lines[key_path] = key_node.start_mark.line + 1
            _record_lines(value_node, key_path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*prefix, index)] = item.start_mark.line + 1
            _record_lines(item, (*prefix, index), lines)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ` (did you mean 'x'?)` hint, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def raise_validation_error(doc: YamlDocument, exc: ValidationError, fields_at: dict) -> None:
    """Turn pydantic's first error into a ConfigError pointing at the file and line."""
    found = exc.errors()
    first = next((e for e in found if e["type"] == "extra_forbidden"), found[0])
    loc = tuple(first["loc"])
    problem = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        parent = tuple(k for k in loc[:-1] if not isinstance(k, int))
        allowed = fields_at.get(parent, ())
        problem = f"unknown key{did_you_mean(str(loc[-1]), allowed)}; allowed: {', '.join(sorted(allowed))}"
    raise doc.error(loc, problem) from None
