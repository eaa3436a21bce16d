"""`sparkctl recipes ...`: list, show, diff, lint and import recipes (no node is touched)."""

from __future__ import annotations

import click


def _settings(ctx: click.Context):
    return ctx.obj


@click.group()
def recipes():
    """List, show, compare and lint recipes."""


@recipes.command("list")
@click.pass_context
def recipes_list(ctx):
    """Every recipe on the search path."""
    from orchestrator.config import catalog

    catalog.list_recipes(_settings(ctx.parent))


@recipes.command("show")
@click.argument("name")
@click.pass_context
def recipes_show(ctx, name):
    """The fully resolved recipe NAME."""
    from orchestrator.config import catalog

    catalog.show_recipe(_settings(ctx.parent), name)


@recipes.command("diff")
@click.argument("first")
@click.argument("second")
@click.pass_context
def recipes_diff(ctx, first, second):
    """The resolved keys that differ between two recipes."""
    from orchestrator.config import catalog

    catalog.diff_recipes(_settings(ctx.parent), first, second)


@recipes.command("lint")
@click.argument("names", nargs=-1)
@click.pass_context
def recipes_lint(ctx, names):
    """Check recipes against Spark's known gotchas (all when no NAME)."""
    from orchestrator.config import catalog

    catalog.lint_recipes(_settings(ctx.parent), names)


@recipes.command("import")
@click.argument("paths", nargs=-1, required=True)
@click.option("--into", metavar="DIR", help="Write here (default: ~/.config/sparkctl/recipes).")
@click.option("--rename", is_flag=True, help="Import under a new name (NAME-2, ...) when the name is taken.")
@click.pass_context
def recipes_import(ctx, paths, into, rename):
    """Turn recipe files (write-up, eugr v1, sparkrun v2; files or directories) into native recipes."""
    from orchestrator.config import catalog

    catalog.import_recipes(_settings(ctx.parent), paths, into, rename)
