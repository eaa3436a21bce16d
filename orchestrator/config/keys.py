"""Generated credentials (the proxy's key, vLLM's API key, Ray's token): from the environment, else made
once and kept 0600 in the config dir. They reach nodes only on SSH stdin, never argv, plans or logs."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config.inventory import config_dir
from orchestrator.errors import ConfigError

# LiteLLM refuses its documented example key at startup.
WEAK_KEYS = {"sk-1234"}


@dataclass(frozen=True)
class Key:
    """One kind of generated credential: the env var that overrides it, its file, and how it looks."""

    what: str
    env: str
    file: str
    prefix: str = ""

    def path(self) -> Path:
        """Where the generated key lives."""
        return config_dir() / self.file


PROXY = Key("the proxy key", "SPARKCTL_PROXY_KEY", "proxy-key", "sk-")
API = Key("the API key", "SPARKCTL_API_KEY", "api-key", "sk-")
RAY = Key("the Ray token", "SPARKCTL_RAY_TOKEN", "ray-token")
ENV = PROXY.env


def key_path(kind: Key = PROXY) -> Path:
    """Where the generated key of this kind lives."""
    return kind.path()


def load_key(create: bool = True, kind: Key = PROXY) -> str | None:
    """The key from the environment or its file; generate and store it when create and there is none."""
    if os.environ.get(kind.env):
        return _checked(os.environ[kind.env], f"${kind.env}", kind)
    path = kind.path()
    if path.exists():
        return _read(path, kind)
    return _create(path, kind) if create else None


def _read(path: Path, kind: Key) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{path}: {kind.what} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    return _checked(path.read_text(encoding="utf-8"), str(path), kind)


def _checked(raw: str, source: str, kind: Key) -> str:
    key = raw.strip()
    if not key.startswith(kind.prefix) or key in WEAK_KEYS or not key.isprintable() or " " in key or len(key) < 16:
        start = f"start with '{kind.prefix}', " if kind.prefix else ""
        raise ConfigError(f"{source}: {kind.what} must {start}have at least 16 characters and no spaces, "
                          "and not be 'sk-1234'")
    return key


def _create(path: Path, kind: Key) -> str:
    """Write a new key atomically (0600 from the start); if another sparkctl wrote one first, use that."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = kind.prefix + secrets.token_urlsafe(32)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    try:
        os.link(partial, path)
    except FileExistsError:
        return _read(path, kind)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return key
