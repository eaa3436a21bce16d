"""`sparkctl schema recipe|inventory|stack`: the JSON Schema editors use to check and complete those files."""

from __future__ import annotations

import click

from orchestrator.config.schema import KINDS


@click.command("schema")
@click.argument("kind", type=click.Choice(KINDS))
def schema(kind: str) -> None:
    """Print the JSON Schema of a recipe, inventory or stack file (generated from sparkctl's own models)."""
    from orchestrator.config.schema import json_schema
    from orchestrator.report import console

    console.emit_json(json_schema(kind))
