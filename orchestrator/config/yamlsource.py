"""Reads YAML files keeping the line of every key, for errors that point at the source."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orchestrator.config import yamlload
from orchestrator.config.values import MAX_TEXT, shown
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
        return ConfigError(f"{self.path}:{self.line_of(key_path)}: {_dotted(key_path)}: {problem}")


def read_yaml(path: Path) -> YamlDocument:
    """Parse one YAML file whose top level must be a mapping; untrusted, so within yamlload's limits."""
    text = _read_text(path)
    try:
        node, data = yamlload.load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{_where(path, text, exc)}: {_problem(exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: (top level): expected a mapping of keys, got {type(data).__name__}")
    doc = YamlDocument(path=path, data=data)
    if node is not None:
        _walk(node, (), doc)
    return doc


def load_value(text: str) -> Any:
    """One YAML value given on the command line, read as a recipe file would be."""
    _, data = yamlload.load(text)
    return data


def _read_text(path: Path) -> str:
    """The file's text: at most MAX_BYTES (read no further), UTF-8."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(yamlload.MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{shown(str(path))}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > yamlload.MAX_BYTES:
        raise ConfigError(f"{path}: larger than {yamlload.MAX_BYTES >> 20} MiB; sparkctl files are small, "
                          "is this the right file?")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                          "save the file as UTF-8") from None


def _where(path: Path, text: str, exc: yaml.YAMLError) -> str:
    """`file:line` of a YAML error, when the error knows its place."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return f"{path}:{mark.line + 1}"
    position = getattr(exc, "position", None)
    return f"{path}:{text[:position].count(chr(10)) + 1}" if position is not None else str(path)


def _problem(exc: yaml.YAMLError) -> str:
    """One line saying what is wrong."""
    if isinstance(exc, yamlload.RefusedYAML):
        return exc.problem
    if isinstance(exc, yaml.reader.ReaderError):
        return f"malformed YAML: character {shown(chr(exc.character))} is not allowed; remove it"
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    return f"malformed YAML: {problem}" + (f" ({context})" if context else "")


def _walk(node: yaml.Node, prefix: tuple, doc: YamlDocument) -> None:
    """Record the line of every key; refuse runaway text and plain yes/no/on/off values."""
    if isinstance(node, yaml.ScalarNode):
        _check_scalar(node, prefix, doc, is_key=False)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = (*prefix, key_node.value)
            _check_scalar(key_node, key_path, doc, is_key=True)
            doc.lines.setdefault(key_path, key_node.start_mark.line + 1)
            _walk(value_node, key_path, doc)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            doc.lines[(*prefix, index)] = item.start_mark.line + 1
            _walk(item, (*prefix, index), doc)


def _check_scalar(node: yaml.ScalarNode, key_path: tuple, doc: YamlDocument, is_key: bool) -> None:
    """Refuse text over MAX_TEXT, and a YAML 1.1 boolean word written as a plain value."""
    if len(node.value) > MAX_TEXT:
        raise _scalar_error(node, key_path, doc, f"{len(node.value):,} characters; the limit is {MAX_TEXT:,}")
    if not is_key and node.style is None and node.tag == yamlload.STR_TAG and node.value in yamlload.YAML11_BOOLEANS:
        raise _scalar_error(node, key_path, doc, f"'{node.value}' is a boolean in YAML 1.1 but text in YAML 1.2; "
                            f"write true or false, or quote it ('{node.value}') if you mean the text")


def _scalar_error(node: yaml.ScalarNode, key_path: tuple, doc: YamlDocument, problem: str) -> ConfigError:
    return ConfigError(f"{doc.path}:{node.start_mark.line + 1}: {_dotted(key_path)}: {problem}")


def _dotted(key_path: Sequence) -> str:
    """key.path as errors show it; each part cut short, since keys are untrusted."""
    return ".".join(shown(str(k), 40) for k in key_path) or "(top level)"


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
