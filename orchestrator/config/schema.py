"""JSON Schema of the recipe and inventory files, generated from their pydantic models for editors."""

from __future__ import annotations

from typing import Any

DIALECT = "https://json-schema.org/draft/2020-12/schema"
KINDS = ("recipe", "inventory", "stack")


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a `recipe`, `stack` or `inventory` file as written."""
    # Deferred: the CLI registers `schema` at start-up; building the pydantic models waits until it runs.
    if kind == "recipe":
        from orchestrator.config.recipe import RecipeFile

        schema = RecipeFile.model_json_schema()
    elif kind == "stack":
        from orchestrator.config.stack import StackFile

        schema = StackFile.model_json_schema()
    else:
        from orchestrator.config.inventory import Inventory

        schema = Inventory.model_json_schema()
        # The loader records the file's path here and refuses the key in a file.
        del schema["properties"]["source"]
    return {"$schema": DIALECT, "title": f"sparkctl {kind}", **{k: v for k, v in schema.items() if k != "title"}}
