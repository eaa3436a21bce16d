"""`sparkctl recipes ...`: list, show, diff and lint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import importing
from orchestrator.config.book import RecipeBook
from orchestrator.config.inventory import config_dir
from orchestrator.config.recipe import Recipe
from orchestrator.config.rules import errors, lint
from orchestrator.config.settings import Settings
from orchestrator.errors import ConfigError, LintError
from orchestrator.report import console
from orchestrator.report.tables import Column, Fit

RECIPE_COLUMNS = [Column("name"), Column("model", Fit.WIDE), Column("sparks"), Column("image", Fit.LEGEND),
                  Column("description", Fit.TEXT)]


def list_recipes(settings: Settings) -> None:
    """A table of every recipe with its model, nodes and image."""
    book = settings.book()
    resolved = [book.resolve(name) for name in book.names()]
    if settings.json:
        console.emit_json([{"name": r.name, "model": r.model, "nodes": r.gpus, "container": r.container,
                            "hash": r.content_hash, "description": r.description} for r in resolved])
        return
    rows = [[r.name, r.model, r.gpus, r.container, r.description] for r in resolved]
    console.table("recipes", RECIPE_COLUMNS, rows)


def show_recipe(settings: Settings, name: str) -> None:
    """The resolved recipe as YAML (or JSON), with its hash and where it came from."""
    recipe = settings.book().resolve(name)
    data = {"name": recipe.name, "hash": recipe.content_hash, "source": recipe.source,
            "extends": list(recipe.chain[1:]), **recipe.model_dump(exclude={"name", "source", "chain"})}
    if settings.json:
        console.emit_json(data)
    else:
        console.info(yaml.safe_dump(data, sort_keys=False).rstrip())


def diff_recipes(settings: Settings, first: str, second: str) -> None:
    """The resolved keys that differ."""
    book = settings.book()
    changes = recipe_diff(book.resolve(first), book.resolve(second))
    if settings.json:
        console.emit_json([{"key": k, first: a, second: b} for k, a, b in changes])
        return
    if not changes:
        console.info(f"{first} and {second} resolve to the same deployment")
    for key, a, b in changes:
        console.info(f"{key}: {_show(a)} -> {_show(b)}")


def _show(value) -> str:
    return "(unset)" if value is None else str(value)


def lint_recipes(settings: Settings, names: tuple[str, ...]) -> None:
    """Lint recipes; exit non-zero on any error."""
    book = settings.book()
    findings = [f for name in (names or book.names()) for f in lint(book.resolve(name))]
    console.print_findings(findings, settings.json)
    if errors(findings):
        raise LintError(f"{len(errors(findings))} rule error(s)")


def recipe_diff(a: Recipe, b: Recipe) -> list[tuple[str, Any, Any]]:
    """Resolved keys whose values differ, as (dotted key, value in a, value in b)."""
    flat_a, flat_b = _flatten(a.content()), _flatten(b.content())
    keys = sorted(flat_a.keys() | flat_b.keys())
    return [(k, flat_a.get(k), flat_b.get(k)) for k in keys if flat_a.get(k) != flat_b.get(k)]


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and key in ("args", "env", "mounts"):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def import_recipes(settings: Settings, paths: tuple[str, ...], into: str | None, rename: bool) -> None:
    """Write foreign recipes as native ones into a recipes directory, after checking each one resolves."""
    target = Path(into).expanduser() if into else config_dir() / "recipes"
    book = settings.book()
    taken = set(book.names()) | {p.stem for p in target.glob("*.yaml")}
    recipes = importing.with_unique_names([importing.read_foreign(p) for p in importing.recipe_files(list(paths))],
                                          taken, rename)
    texts = importing.native_texts(recipes)
    clashes = sorted(name for name in texts if (target / name).exists())
    if clashes:
        raise ConfigError(f"{target}: would overwrite {', '.join(clashes)}; pass --rename or --into another directory")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (target / name).write_text(text)
    _check_written(RecipeBook([target, *book.dirs]), recipes, [target / name for name in texts])
    for recipe in recipes:
        console.info(f"imported {recipe.name} from {recipe.source} -> {target / (recipe.name + '.yaml')}")
        for note in recipe.notes:
            console.info(f"  {note}")


def _check_written(book: RecipeBook, recipes: list[importing.Imported], written: list[Path]) -> None:
    """Every imported recipe resolves from what was written; otherwise nothing written stays."""
    try:
        for recipe in recipes:
            book.resolve(recipe.name)
    except ConfigError:
        for path in written:
            path.unlink(missing_ok=True)
        raise
