"""The autouse fixture that keeps a developer's own config out of unit and CLI tests."""

from __future__ import annotations

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
