"""Fixtures for the unit tests: an isolated working dir, the example inventory, recipe files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config.book import RecipeBook
from orchestrator.config.inventory import Inventory, load_inventory
from orchestrator.config.paths import builtin_dir
from tests.isolation import isolated, write  # noqa: F401 - fixtures shared with the other suite

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_INVENTORY = REPO / "inventory.yaml"


@pytest.fixture
def inventory() -> Inventory:
    """The repo's example inventory (two Sparks with a fabric link)."""
    return load_inventory(EXAMPLE_INVENTORY)


@pytest.fixture
def builtin_book() -> RecipeBook:
    """Only the built-in catalog."""
    return RecipeBook([builtin_dir("recipes")])
