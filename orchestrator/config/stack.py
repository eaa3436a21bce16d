"""Stack files: several deployments described in one file, validated like recipes, with a content hash."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestrator.config import values
from orchestrator.config.book import RecipeBook, is_recipe_path
from orchestrator.config.recipe import ArgValue, Backend, Recipe, Scalar, with_overrides
from orchestrator.config.yamlsource import YamlDocument, raise_validation_error, read_yaml
from orchestrator.errors import ConfigError

Name = Annotated[str, AfterValidator(values.name)]
Text = Annotated[str, AfterValidator(values.plain_text)]
EnvName = Annotated[str, AfterValidator(values.env_name)]
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]
# A fraction of the node's unified memory, as vLLM's gpu-memory-utilization.
Share = Annotated[float, Field(gt=0, le=1)]
# Container names are `sparkctl-vllm-<name>`: docker allows 253 characters, labels far more.
DeploymentName = Annotated[str, AfterValidator(values.name), Field(max_length=63)]
DEFAULT_STACK = "stack.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StackEntry(_Frozen):
    """One deployment of a stack: a recipe, how it spreads, where, and what it overrides."""

    name: DeploymentName
    recipe: Text
    topology: Literal["solo", "cluster", "replicas"]
    nodes: tuple[Name, ...] | None = None
    set: dict[str, ArgValue] = {}
    env: dict[EnvName, Scalar] = {}
    port: Port | None = None
    memory: Share | None = None
    backend: Backend | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StackEntry:
        if self.memory is not None and "gpu-memory-utilization" in self.set:
            raise ValueError("sets both memory and set.gpu-memory-utilization; keep one (memory is the same thing)")
        if self.backend and self.topology != "cluster":
            raise ValueError(f"backend is for cluster deployments; {self.topology} runs one server per node")
        if self.nodes is not None and len(set(self.nodes)) != len(self.nodes):
            raise ValueError(f"nodes names a node twice: {', '.join(self.nodes)}")
        return self


class StackProxy(_Frozen):
    """One endpoint for every model of the stack: a LiteLLM proxy routing by model name."""

    node: Name | None = None
    port: Port | None = None


class StackFile(_Frozen):
    """A stack file as written."""

    name: Name | None = None
    deployments: Annotated[tuple[StackEntry, ...], Field(min_length=1)]
    proxy: StackProxy | None = None

    @model_validator(mode="after")
    def _unique(self) -> StackFile:
        seen: set[str] = set()
        for entry in self.deployments:
            if entry.name in seen:
                raise ValueError(f"two deployments are named '{entry.name}'; each needs its own name")
            seen.add(entry.name)
        if sum(e.topology == "replicas" for e in self.deployments) > 1:
            raise ValueError("more than one replicas deployment; a stack runs at most one (each has the proxy port)")
        return self


_FIELDS = {(): tuple(StackFile.model_fields), ("deployments",): tuple(StackEntry.model_fields),
           ("proxy",): tuple(StackProxy.model_fields)}


class Stack:
    """A validated stack file: its entries, its name, where it came from and its content hash."""

    def __init__(self, doc: YamlDocument, parsed: StackFile):
        self.doc, self.parsed = doc, parsed

    @property
    def name(self) -> str:
        """The stack's name (the file's `name:`, else the file name without .yaml): labels tie deployments to it."""
        return self.parsed.name or values.name(Path(self.doc.path).stem)

    @property
    def entries(self) -> tuple[StackEntry, ...]:
        """The deployments, in file order."""
        return self.parsed.deployments

    @property
    def source(self) -> Path:
        """The file."""
        return self.doc.path

    def content(self) -> dict[str, Any]:
        """What the stack declares, as canonical data."""
        return self.parsed.model_dump(mode="json", exclude_defaults=True)

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the content."""
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def error(self, index: int, key: str, problem: str):
        """A ConfigError pointing at one entry's key in the file."""
        return self.doc.error(("deployments", index, key), problem)


def load_stack(path: Path) -> Stack:
    """Read and validate a stack file; the entries' recipes are resolved later, against the recipe book."""
    doc = read_yaml(path)
    try:
        parsed = StackFile.model_validate(doc.data)
    except ValidationError as exc:
        raise_validation_error(doc, exc, _FIELDS)
        raise
    stack = Stack(doc, parsed)
    try:
        stack.name  # noqa: B018 - a file name that is no valid name is refused here, not on a node
    except ValueError as exc:
        raise doc.error(("name",), f"the file name is no valid stack name ({exc}); set 'name:' in the file") from None
    return stack


def entry_recipe(stack: Stack, index: int, book: RecipeBook) -> Recipe:
    """One entry's recipe, resolved and overridden (set, env, memory); errors point at the entry in the stack file."""
    entry = stack.entries[index]
    recipe_ref = entry.recipe
    if is_recipe_path(recipe_ref) and not Path(recipe_ref).expanduser().is_absolute():
        recipe_ref = str(stack.source.parent / recipe_ref)  # relative to the stack file, not the shell
    for key in entry.env:
        if values.is_secret_name(key):
            raise stack.error(index, "env", f"{key} looks like a secret; a stack file is no place for one: export it "
                                            "in the shell that runs sparkctl (HF_TOKEN is forwarded from there)")
    args = dict(entry.set)
    if entry.memory is not None:
        args["gpu-memory-utilization"] = entry.memory
    env = {k: ("1" if v else "0") if isinstance(v, bool) else str(v) for k, v in entry.env.items()}
    try:
        recipe = with_overrides(book.resolve(recipe_ref, entry.topology), args, env)
    except ConfigError as exc:
        # with_overrides names the command line's options; here they are the entry's keys.
        message = re.sub(r"^--set ", "set.", re.sub(r"^-e ", "env.", str(exc)))
        raise stack.error(index, "recipe", message) from None
    return recipe
