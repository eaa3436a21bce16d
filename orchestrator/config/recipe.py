"""Recipes: a model's serving knowledge as validated data, with `extends` and a content hash."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from orchestrator.config import values
from orchestrator.config.jobspec import Guard
from orchestrator.config.mods import mod_digest
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
    coding_agent: bool | None = None
    guard: Guard | None = None


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
    # A backend for coding agents (Claude Code): `up` also checks the Anthropic Messages API, with a tool offered.
    coding_agent: bool = False
    # The page-cache guard `up` installs on the deployment's nodes; node upkeep, not part of the content hash.
    guard: Guard | None = None
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
