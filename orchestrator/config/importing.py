"""`recipes import`: foreign recipe files written as native ones, a family's shared keys factored into a base."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config.formats.detect import recipe_format, suggested_name, to_native
from orchestrator.config.yamlsource import read_yaml
from orchestrator.errors import ConfigError

MERGED = ("args", "env", "mounts")


@dataclass(frozen=True)
class Imported:
    """One recipe ready to write: its native name, its data, and what the reader said about it."""

    name: str
    source: Path
    data: dict[str, Any]
    notes: tuple[str, ...]


def recipe_files(paths: list[str]) -> list[Path]:
    """The YAML files named, directories expanded (not recursively), in a stable order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{raw}: no such file or directory")
    if not files:
        raise ConfigError(f"{', '.join(paths)}: no .yaml recipe files found")
    return files


def read_foreign(path: Path) -> Imported:
    """One file read into a native recipe (a native file is taken as it is)."""
    doc = read_yaml(path)
    if recipe_format(doc.data) == "unknown":
        raise ConfigError(f"{path}: not a recipe format sparkctl reads (native, write-up, eugr v1, sparkrun v2)")
    native, notes = to_native(doc.data, path)
    return Imported(suggested_name(doc.data, path), path, native, tuple(notes))


def with_unique_names(recipes: list[Imported], taken: set[str], rename: bool) -> list[Imported]:
    """Refuse a name already on the search path (or imported twice) unless rename, which appends -2, -3..."""
    named: list[Imported] = []
    for recipe in recipes:
        name, number = recipe.name, 2
        while name in taken:
            if not rename:
                raise ConfigError(f"{recipe.source}: a recipe named '{name}' exists already; pass --rename to import "
                                  f"it under another name, or remove the other one")
            name, number = f"{recipe.name}-{number}", number + 1
        taken.add(name)
        named.append(Imported(name, recipe.source, recipe.data, recipe.notes))
    return named


def family_bases(recipes: list[Imported]) -> dict[str, dict[str, Any]]:
    """A base recipe for every model imported more than once: the keys all its recipes share."""
    by_model: dict[str, list[Imported]] = {}
    for recipe in recipes:
        by_model.setdefault(recipe.data.get("model", ""), []).append(recipe)
    bases = {}
    for family in by_model.values():
        shared = _shared([r.data for r in family])
        if len(family) > 1 and shared.get("model") and shared.get("container"):
            bases[f"{family[0].name}-base"] = shared
    return bases


def _shared(items: list[dict[str, Any]]) -> dict[str, Any]:
    first, shared = items[0], {}
    for key, value in first.items():
        if key in MERGED and isinstance(value, dict):
            common = {k: v for k, v in value.items() if all(d.get(key, {}).get(k, object()) == v for d in items)}
            if common:
                shared[key] = common
        elif key != "description" and all(d.get(key, object()) == value for d in items):
            shared[key] = value
    return shared


def factored(recipe: Imported, base_name: str, base: dict[str, Any]) -> dict[str, Any]:
    """The recipe as `extends: base` plus only what differs from it."""
    own: dict[str, Any] = {"extends": base_name}
    for key, value in recipe.data.items():
        if key in MERGED and isinstance(value, dict):
            rest = {k: v for k, v in value.items() if base.get(key, {}).get(k, object()) != v}
            if rest:
                own[key] = rest
        elif base.get(key, object()) != value:
            own[key] = value
    return own


def native_texts(recipes: list[Imported]) -> dict[str, str]:
    """File name -> native YAML, bases first; each file says where it came from."""
    bases = family_bases(recipes)
    base_of = {r.name: b for r in recipes for b, shared in bases.items() if shared["model"] == r.data.get("model")}
    texts = {f"{name}.yaml": _yaml(data, "shared keys of the recipes that extend it") for name, data in bases.items()}
    for recipe in recipes:
        base = base_of.get(recipe.name)
        data = factored(recipe, base, bases[base]) if base else recipe.data
        texts[f"{recipe.name}.yaml"] = _yaml(data, f"imported from {recipe.source}")
    return texts


def _yaml(data: dict[str, Any], origin: str) -> str:
    return f"# {origin} by 'sparkctl recipes import'\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
