"""Where sparkctl finds its built-in catalog and templates, installed or from a checkout."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def config_dir() -> Path:
    """sparkctl's per-user config dir (XDG); importing it costs nothing, unlike the inventory module."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "sparkctl"


def state_dir() -> Path:
    """sparkctl's per-user state dir (XDG): failure logs, kept across runs."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "sparkctl"


def builtin_dir(kind: str) -> Path:
    """The built-in `recipes` or `templates` directory."""
    installed = _PACKAGE / "_data" / kind
    return installed if installed.is_dir() else _PACKAGE.parent / kind
