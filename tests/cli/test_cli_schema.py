"""`sparkctl schema`: the committed schema files are fresh, and the built-in files validate against them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.cli.conftest import EXAMPLE_INVENTORY, REPO

RECIPES = REPO / "recipes"
SCHEMA_FILES = {"recipe": RECIPES / "recipe.schema.json", "inventory": REPO / "inventory.schema.json",
                "stack": REPO / "stack.schema.json"}
EXAMPLE_STACK = REPO / "stack.example.yaml"
MODELINE = "# yaml-language-server: $schema="


def printed_schema(sparkctl, kind: str) -> dict:
    """The schema `sparkctl schema KIND` prints."""
    outcome = sparkctl("schema", kind, inventory=None)
    assert outcome.code == 0, outcome.err
    return json.loads(outcome.out)


def problems(files: list[Path], schema: dict) -> list[str]:
    """`file: path: message` for every schema violation in the YAML files."""
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{path.name}: {'.'.join(map(str, error.absolute_path))}: {error.message}"
            for path in files for error in validator.iter_errors(yaml.safe_load(path.read_text()))]


@pytest.mark.parametrize("kind", sorted(SCHEMA_FILES))
def test_committed_schema_is_fresh(sparkctl, kind):
    outcome = sparkctl("schema", kind, inventory=None)
    assert SCHEMA_FILES[kind].read_text() == outcome.out, "stale schema: run 'make schemas'"
    jsonschema.Draft202012Validator.check_schema(json.loads(outcome.out))


def test_every_builtin_recipe_and_the_example_inventory_validate(sparkctl):
    assert problems(sorted(RECIPES.glob("*.yaml")), printed_schema(sparkctl, "recipe")) == []
    assert problems([EXAMPLE_INVENTORY], printed_schema(sparkctl, "inventory")) == []
    assert problems([EXAMPLE_STACK], printed_schema(sparkctl, "stack")) == []


def test_each_file_points_editors_at_its_schema():
    for path in [*RECIPES.glob("*.yaml"), EXAMPLE_INVENTORY, EXAMPLE_STACK]:
        first = path.read_text().splitlines()[0]
        assert first.startswith(MODELINE), f"{path.name}: first line is not the schema modeline"
        assert (path.parent / first.removeprefix(MODELINE)).is_file()


@pytest.mark.parametrize(("good", "typo", "where"), [
    ("\ncontainer:", "\ncontaner:", "contaner"),
    ("  framework: llama-benchy", "  framwork: llama-benchy", "framwork"),
])
def test_a_misspelled_key_in_a_builtin_recipe_fails(sparkctl, tmp_path, good, typo, where):
    copy = tmp_path / "recipes"
    shutil.copytree(RECIPES, copy)
    broken = copy / "openai-gpt-oss-120b.yaml"
    assert good in broken.read_text()
    broken.write_text(broken.read_text().replace(good, typo, 1))
    found = problems(sorted(copy.glob("*.yaml")), printed_schema(sparkctl, "recipe"))
    assert len(found) == 1 and found[0].startswith("openai-gpt-oss-120b.yaml") and where in found[0]


def test_a_misspelled_inventory_key_fails(sparkctl, tmp_path):
    broken = tmp_path / "inventory.yaml"
    broken.write_text(EXAMPLE_INVENTORY.read_text().replace("fabric_ip:", "fabric_ipp:", 1))
    found = problems([broken], printed_schema(sparkctl, "inventory"))
    assert len(found) == 1 and "fabric_ipp" in found[0]
