"""Finding and resolving recipes: the search path, files in any supported format, `extends` chains."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.config import values
from orchestrator.config.formats.detect import recipe_format, to_native
from orchestrator.config.inventory import checked_path, config_dir
from orchestrator.config.jobspec import Guard
from orchestrator.config.mods import mod_problem
from orchestrator.config.paths import builtin_dir
from orchestrator.config.recipe import Benchmark, Recipe, RecipeFile, arg_problem, env_problem, merge
from orchestrator.config.yamlsource import YamlDocument, did_you_mean, raise_validation_error, read_yaml
from orchestrator.errors import ConfigError

_FIELDS = {(): tuple(RecipeFile.model_fields), ("benchmark",): tuple(Benchmark.model_fields),
           ("guard",): tuple(Guard.model_fields)}


def recipe_dirs(explicit: str | None) -> list[Path]:
    """The search path: --recipes-dir, ./recipes, the user's config dir, the built-in catalog."""
    dirs = [Path(explicit)] if explicit else []
    if explicit and not checked_path(explicit, "--recipes-dir").is_dir():
        raise ConfigError(f"{values.shown(explicit)}: recipes directory not found")
    dirs += [Path("recipes"), config_dir() / "recipes", builtin_dir("recipes")]
    unique: list[Path] = []
    for directory in dirs:
        if directory.is_dir() and all(not _same(directory, seen) for seen in unique):
            unique.append(directory)
    return unique


def _same(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


class RecipeBook:
    """Finds, reads and resolves recipes along a search path."""

    def __init__(self, dirs: list[Path]):
        self.dirs = dirs

    def names(self) -> list[str]:
        """Every recipe name on the search path, first occurrence wins."""
        found: dict[str, Path] = {}
        for directory in self.dirs:
            for path in sorted(directory.glob("*.yaml")):
                found.setdefault(path.stem, path)
        return sorted(found)

    def path_of(self, recipe_name: str) -> Path:
        """The file that defines recipe_name (a name on the search path, or a path to a file)."""
        if is_recipe_path(recipe_name):
            path = checked_path(recipe_name, "recipe file").expanduser()
            if not path.is_file():
                raise ConfigError(f"{recipe_name}: recipe file not found")
            return path
        try:
            values.name(recipe_name)
        except ValueError as exc:
            raise ConfigError(f"not a recipe name: {exc}; list them with 'sparkctl recipes list'") from None
        for directory in self.dirs:
            candidate = directory / f"{recipe_name}.yaml"
            if candidate.is_file():
                return candidate
        hint = did_you_mean(recipe_name, self.names())
        raise ConfigError(f"unknown recipe '{recipe_name}'{hint}; list them with 'sparkctl recipes list'")

    def resolve(self, recipe: str, topology: str | None = None) -> Recipe:
        """Load a recipe (name or file, any supported format) and everything it extends, merged into one Recipe.

        topology picks the variant of formats that render one command per topology (eugr v1).
        """
        book = self._beside(recipe)
        notes: list[str] = []
        chain = book._chain(recipe, topology, notes)
        merged: dict[str, Any] = {}
        for _name, _doc, parsed in reversed(chain):
            merged = merge(merged, parsed.model_dump(exclude_unset=True, exclude={"extends"}))
        top_doc = chain[0][1]
        name = Path(recipe).stem if is_recipe_path(recipe) else recipe
        return build_recipe(name, merged, top_doc, tuple(n for n, _, _ in chain), tuple(notes))

    def _beside(self, recipe: str) -> RecipeBook:
        """A recipe given as a file finds what it extends next to itself first."""
        if not is_recipe_path(recipe):
            return self
        return RecipeBook([Path(recipe).expanduser().parent, *self.dirs])

    def _path_named_by(self, recipe_name: str, chain: list) -> Path:
        """The file of recipe_name; when a parent is missing, the error points at the `extends:` naming it."""
        try:
            return self.path_of(recipe_name)
        except ConfigError as exc:
            if not chain:
                raise
            raise chain[-1][1].error(("extends",), str(exc)) from None

    def _chain(self, recipe_name: str, topology: str | None,
               notes: list[str]) -> list[tuple[str, YamlDocument, RecipeFile]]:
        chain: list[tuple[str, YamlDocument, RecipeFile]] = []
        current: str | None = recipe_name
        while current is not None:
            if current in [name for name, _, _ in chain]:
                cycle = " -> ".join([name for name, _, _ in chain] + [current])
                raise chain[-1][1].error(("extends",), f"extends cycle: {cycle}; remove one 'extends'")
            doc = native_document(read_yaml(self._path_named_by(current, chain)), topology, notes)
            parsed = parse_recipe_file(doc)
            chain.append((current, doc, parsed))
            current = parsed.extends
        return chain


def is_recipe_path(recipe: str) -> bool:
    """Whether a recipe argument names a file rather than a recipe on the search path."""
    return os.sep in recipe or recipe.startswith(".") or recipe.startswith("~") or recipe.endswith((".yaml", ".yml"))


def native_document(doc: YamlDocument, topology: str | None, notes: list[str]) -> YamlDocument:
    """The document as a native recipe: foreign formats (write-up, eugr v1, sparkrun v2) are read into one."""
    kind = recipe_format(doc.data)
    if kind in ("native", "unknown"):
        return doc  # the native validator names an unknown key precisely, with "did you mean"
    options = {"topology": topology} if kind == "eugr-v1" and topology in ("solo", "cluster") else {}
    native, read_notes = to_native(doc.data, doc.path, **options)
    notes += [f"{doc.path}: {note}" for note in read_notes]
    # Foreign keys do not map line by line; errors about the converted recipe point at the file.
    return YamlDocument(doc.path, native, {})


def parse_recipe_file(doc: YamlDocument) -> RecipeFile:
    """Validate one recipe file as written."""
    try:
        parsed = RecipeFile.model_validate(doc.data)
    except ValidationError as exc:
        raise_validation_error(doc, exc, _FIELDS)
        raise
    if parsed.mods:
        parsed = parsed.model_copy(update={"mods": tuple(_mod_dir(doc, i, mod) for i, mod in enumerate(parsed.mods))})
    for key, value in parsed.args.items():
        if problem := arg_problem(key, value):
            raise doc.error(("args", key), problem)
    for key, value in parsed.env.items():
        if problem := env_problem(value):
            raise doc.error(("env", key), problem)
    return parsed


def _mod_dir(doc: YamlDocument, index: int, mod: str) -> str:
    """A mod directory as an absolute path (relative ones are relative to the recipe file)."""
    directory = str((doc.path.parent / Path(mod).expanduser()).resolve())
    if problem := mod_problem(directory):
        raise doc.error(("mods", index), problem)
    return directory


def build_recipe(recipe_name: str, merged: dict[str, Any], doc: YamlDocument, chain: tuple[str, ...],
                 notes: tuple[str, ...] = ()) -> Recipe:
    """Validate the merged data as a complete recipe."""
    merged = {**merged, "env": {k: _env_text(v) for k, v in merged.get("env", {}).items()}}
    for required in ("model", "container"):
        if not merged.get(required):
            raise doc.error((required,), f"missing; set '{required}:' here or in a recipe it extends")
    try:
        return Recipe.model_validate({**merged, "name": recipe_name, "source": str(doc.path), "chain": chain,
                                      "notes": notes})
    except ValidationError as exc:
        raise_validation_error(doc, exc, _FIELDS)
        raise


def _env_text(value: Any) -> str:
    """Env values are strings in the container; YAML booleans become 1/0 like shells expect."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
