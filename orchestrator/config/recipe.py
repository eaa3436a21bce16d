"""Recipes: a model's serving knowledge as validated data, with `extends` and a content hash."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from orchestrator.config import values
from orchestrator.config.formats.detect import recipe_format, to_native
from orchestrator.config.inventory import checked_path, config_dir
from orchestrator.config.mods import mod_digest, mod_problem
from orchestrator.config.paths import builtin_dir
from orchestrator.config.yamlsource import YamlDocument, did_you_mean, raise_validation_error, read_yaml
from orchestrator.errors import ConfigError

Name = Annotated[str, AfterValidator(values.name)]
Text = Annotated[str, AfterValidator(values.plain_text)]
EnvName = Annotated[str, AfterValidator(values.env_name)]
Mount = Annotated[str, AfterValidator(values.mount_spec)]
Scalar = bool | int | float | str
ArgValue = Scalar | list[Scalar] | dict[str, Any] | None
MERGED_MAPS = ("args", "env", "mounts", "benchmark")
RESERVED_ARGS = ("host", "port", "served-model-name", "distributed-executor-backend", "model")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


TOPOLOGIES = ("solo", "cluster", "replicas")
Port = Annotated[int, Field(ge=1, le=65535)]
# How a cluster's nodes work together: Ray (the write-up's way), or vLLM's own multi-node launch.
Backend = Literal["ray", "mp"]
Topologies = Annotated[tuple[Literal["solo", "cluster", "replicas"], ...], Field(min_length=1)]


class Benchmark(_Frozen):
    """Defaults for `sparkctl bench`; `after_up` runs it once `up` is ready."""

    framework: Name = "llama-benchy"
    args: dict[Name, ArgValue] = {}
    after_up: bool = False


class BenchmarkFile(_Frozen):
    """The benchmark section as written (merged key by key with what it extends)."""

    framework: Name | None = None
    args: dict[Name, ArgValue] | None = None
    after_up: bool | None = None


class RecipeFile(_Frozen):
    """One recipe file as written: everything optional, since `extends` may supply it."""

    description: Text | None = None
    extends: Name | None = None
    model: Text | None = None
    revision: Text | None = None
    served_name: Text | None = None
    container: Text | None = None
    args: dict[str, ArgValue | None] = {}
    env: dict[EnvName, Scalar | None] = {}
    mounts: dict[Name, Mount | None] = {}
    benchmark: BenchmarkFile = BenchmarkFile()
    api_port: Port | None = None
    topologies: Topologies | None = None
    mods: tuple[Text, ...] | None = None
    backend: Backend | None = None


POSITIVE_INT_ARGS = ("tensor-parallel-size", "pipeline-parallel-size", "data-parallel-size", "max-model-len",
                     "max-num-seqs", "max-num-batched-tokens")


def arg_problem(key: str, value: Any) -> str | None:
    """What is wrong with one recipe arg, or None."""
    if not values.ARG_NAME_PATTERN.match(key):
        return f"'{values.shown(key)}' is not a vLLM flag name; write it without '--', e.g. max-model-len"
    if key in RESERVED_ARGS:
        return f"'{key}' is set by sparkctl; remove it from the recipe"
    if value is None:
        return None
    if key in POSITIVE_INT_ARGS and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        return f"must be a positive whole number, got {values.shown(repr(value))}"
    if key == "gpu-memory-utilization" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                            or not 0 < value <= 1):
        return f"must be a fraction between 0 and 1 (e.g. 0.85), got {values.shown(repr(value))}"
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, (dict, list)) and not isinstance(value, dict):
            return "list items must be scalars"
        if isinstance(item, str):
            try:
                values.plain_text(item)
            except ValueError as exc:
                return str(exc)
    return None


def env_problem(value: Any) -> str | None:
    """What is wrong with one env value, or None (a leading '-' is fine after KEY=)."""
    if isinstance(value, str) and len(value) > values.MAX_TEXT:
        return f"is {len(value):,} characters long; the limit is {values.MAX_TEXT:,}"
    if isinstance(value, str) and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "contains a control character (newline, tab, ...); use plain one-line text"
    return None


class Recipe(_Frozen):
    """A fully resolved recipe: what `up` deploys."""

    name: Name
    description: str = ""
    model: Text
    revision: Text | None = None
    served_name: Text | None = None
    container: Text
    args: dict[str, ArgValue] = {}
    env: dict[EnvName, str] = {}
    mounts: dict[Name, Mount] = {}
    benchmark: Benchmark = Benchmark()
    api_port: Port | None = None
    topologies: Topologies = TOPOLOGIES
    mods: tuple[Text, ...] = ()
    backend: Backend | None = None
    source: str = "<memory>"
    chain: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def served_model_name(self) -> str:
        """The name clients ask for."""
        return self.served_name or self.model

    @property
    def tensor_parallel(self) -> int:
        """TP size (vLLM's default is 1)."""
        return int(self.args.get("tensor-parallel-size") or 1)

    @property
    def pipeline_parallel(self) -> int:
        """PP size (vLLM's default is 1)."""
        return int(self.args.get("pipeline-parallel-size") or 1)

    @property
    def gpus(self) -> int:
        """GPUs, hence Sparks, one model instance needs."""
        return self.tensor_parallel * self.pipeline_parallel

    def content(self) -> dict[str, Any]:
        """What defines the deployment (not name, description, provenance or bench defaults).

        New keys enter only when set, so the hashes of recipes that do not use them stay as they were.
        """
        data = self.model_dump(include={"model", "revision", "served_name", "container", "args", "env", "mounts"})
        if self.api_port is not None:
            data["api_port"] = self.api_port
        if self.backend:
            data["backend"] = self.backend
        if self.mods:
            data["mods"] = [{"dir": mod, "sha256": mod_digest(mod)} for mod in self.mods]
        return data

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the content: same hash, same deployment."""
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of the content hash."""
        return self.content_hash[:12]


_FIELDS = {(): tuple(RecipeFile.model_fields), ("benchmark",): tuple(Benchmark.model_fields)}


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


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Overlay override on base: nested maps merge key by key, a None value deletes the key."""
    result = dict(base)
    for key, value in override.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


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


def with_overrides(recipe: Recipe, arg_overrides: dict[str, Any], env_overrides: dict[str, str]) -> Recipe:
    """The recipe after `--set key=value` and `-e KEY=VAL` (these change its hash, as they should)."""
    if not arg_overrides and not env_overrides:
        return recipe
    for key, value in arg_overrides.items():
        if problem := arg_problem(key, value):
            raise ConfigError(f"--set {values.shown(key)}: {problem}")
    for key, value in env_overrides.items():
        if problem := env_problem(value):
            raise ConfigError(f"-e {values.shown(key)}: {problem}")
    data = recipe.model_dump()
    data["args"] = merge(data["args"], arg_overrides)
    data["env"] = merge(data["env"], env_overrides)
    return Recipe.model_validate(data)
