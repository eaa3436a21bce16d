"""What every reader shares: refusals that name file and key, names, text and env checks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError

TOPOLOGIES = ("solo", "cluster", "replicas")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def refuse(path: str | Path, key: str, reason: str) -> ConfigError:
    """A ConfigError that names the file, the key and why the recipe cannot be honoured."""
    return ConfigError(f"{path}: {key}: {reason}")


def recipe_name(text: str) -> str:
    """A native recipe name (letters, digits, '.', '_', '-') from a foreign name or file stem."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-._")
    return slug or "imported"


def one_line(path: str | Path, key: str, value: Any) -> str:
    """Descriptive text folded to one line (native descriptions are one line)."""
    if not isinstance(value, str):
        raise refuse(path, key, f"expected text, got {type(value).__name__}")
    return " ".join(value.split())


def plain(path: str | Path, key: str, value: Any) -> str:
    """A one-line string value that must not read as an option."""
    if not isinstance(value, str) or not value:
        raise refuse(path, key, f"expected non-empty text, got {value!r}")
    if _CONTROL.search(value):
        raise refuse(path, key, "contains a control character (newline, tab, ...)")
    if value.startswith("-"):
        raise refuse(path, key, f"'{value}' starts with '-', which a command would read as an option")
    return value


def env_name(path: str | Path, key: str, name: Any) -> str:
    """An environment variable name, or a refusal."""
    if not isinstance(name, str) or not ENV_NAME.match(name):
        raise refuse(path, key, f"'{name}' is not a valid environment variable name")
    return name


def require_mapping(path: str | Path, key: str, value: Any) -> dict:
    """A mapping (None reads as empty), or a refusal."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise refuse(path, key, f"expected a mapping, got {type(value).__name__}")
    return value


def require_list(path: str | Path, key: str, value: Any) -> list:
    """A list (None reads as empty), or a refusal."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise refuse(path, key, f"expected a list, got {type(value).__name__}")
    return value


def allowed_topologies(solo: bool, cluster: bool) -> list[str]:
    """Native topologies a recipe allows: one-node recipes also run as replicas."""
    allowed = ["solo", "replicas"] if solo else []
    return allowed + (["cluster"] if cluster else [])


def resolve_mod(path: str | Path, key: str, mod: Any, roots: list[Path]) -> str:
    """An existing mod directory holding run.sh, as an absolute path (searched under roots in order)."""
    if not isinstance(mod, str) or not mod.strip():
        raise refuse(path, key, f"expected a mod directory path, got {mod!r}")
    candidates = [Path(mod)] if Path(mod).is_absolute() else [root / mod for root in roots]
    for candidate in candidates:
        if candidate.is_dir() and (candidate / "run.sh").is_file():
            return str(candidate.resolve())
    if mod.endswith(".zip"):
        raise refuse(path, key, f"'{mod}' is a zip mod; unpack it into a directory holding run.sh")
    searched = ", ".join(str(c) for c in candidates)
    raise refuse(path, key, f"mod '{mod}' not found: no directory with run.sh at {searched}")
