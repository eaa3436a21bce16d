"""Fixture recipes for the foreign-format readers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def load():
    """(data, path) of a fixture recipe, by its path under fixtures/."""
    def _load(relative: str) -> tuple[dict, Path]:
        path = FIXTURES / relative
        return yaml.safe_load(path.read_text()), path
    return _load


@pytest.fixture
def write(tmp_path):
    """Write a recipe (YAML text) under tmp_path and return (data, path)."""
    def _write(name: str, text: str) -> tuple[dict, Path]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return yaml.safe_load(text), path
    return _write
