"""Fixtures shared by the unit and CLI suites: isolation from the developer's config, and YAML files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ./recipes, ./inventory.yaml, user config or operator secrets leak into a test."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("SPARKCTL_INVENTORY", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return work


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write('dir/name.yaml', yaml_text) -> the path, text dedented."""

    def _write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write
