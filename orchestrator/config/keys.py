"""The proxy's master key: $SPARKCTL_PROXY_KEY, else generated once and kept 0600 in the config dir."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from orchestrator.config.inventory import config_dir
from orchestrator.errors import ConfigError

ENV = "SPARKCTL_PROXY_KEY"
# LiteLLM refuses its documented example key at startup.
WEAK_KEYS = {"sk-1234"}


def key_path() -> Path:
    """Where the generated key lives."""
    return config_dir() / "proxy-key"


def load_key(create: bool = True) -> str | None:
    """The key from the environment or the key file; generate and store it when create and there is none."""
    if os.environ.get(ENV):
        return _checked(os.environ[ENV], f"${ENV}")
    path = key_path()
    if path.exists():
        return _read(path)
    return _create(path) if create else None


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{path}: the proxy key is readable by others (mode {mode:o}); run: chmod 600 {path}")
    return _checked(path.read_text(encoding="utf-8"), str(path))


def _checked(raw: str, source: str) -> str:
    key = raw.strip()
    if not key.startswith("sk-") or key in WEAK_KEYS or not key.isprintable() or " " in key:
        raise ConfigError(f"{source}: the proxy key must start with 'sk-', have no spaces, and not be 'sk-1234'")
    return key


def _create(path: Path) -> str:
    """Write a new key atomically (0600 from the start); if another sparkctl wrote one first, use that."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = "sk-" + secrets.token_urlsafe(32)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    try:
        os.link(partial, path)
    except FileExistsError:
        return _read(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return key
