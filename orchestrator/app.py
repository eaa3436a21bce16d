"""What each command does, between the thin click layer and the planner/executor."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, LintError
from orchestrator.inventory import Inventory, Node, find_inventory, load_inventory
from orchestrator.values import env_name, is_secret_name

if TYPE_CHECKING:
    from orchestrator.recipe import Recipe, RecipeBook
    from orchestrator.rules import Finding
    from orchestrator.topology import Layout, Topology

FORWARDED_SECRETS = ("HF_TOKEN",)


@dataclass(frozen=True)
class Settings:
    """Global options every command shares."""

    inventory: str | None = None
    recipes_dir: str | None = None
    templates_dir: str | None = None
    json: bool = False
    debug: bool = False

    def book(self) -> RecipeBook:
        """The recipe search path (recipe models load only when a command needs them)."""
        from orchestrator.recipe import RecipeBook, recipe_dirs

        return RecipeBook(recipe_dirs(self.recipes_dir))

    def load_inventory(self) -> Inventory:
        """The inventory this invocation uses."""
        return load_inventory(find_inventory(self.inventory))


@dataclass(frozen=True)
class UpRequest:
    """An `up`/`plan` invocation after parsing."""

    topology: Topology
    recipe: Recipe
    layout: Layout
    inventory: Inventory
    secrets: dict[str, str]
    findings: list[Finding]


def parse_sets(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`--set key=value` into recipe arg overrides; values parse as YAML scalars (true, 0.8, 4096)."""
    import yaml

    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair}: expected key=value, e.g. --set max-model-len=8192")
        try:
            overrides[key.removeprefix("--")] = None if raw == "" else yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {pair}: cannot read the value; quote it as a YAML string, "
                              f"e.g. --set '{key}=\"...\"'") from None
    return overrides


def parse_env(pairs: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """`-e KEY=VAL` into (plain env, secrets); `-e NAME` forwards NAME from this shell as a secret."""
    plain: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            env_name(key)
        except ValueError as exc:
            raise ConfigError(f"-e {key}: {exc}") from None
        if not sep:
            if key not in os.environ:
                raise ConfigError(f"-e {key}: not set in this shell; export it or pass -e {key}=VALUE")
            secrets[key] = os.environ[key]
        elif is_secret_name(key):
            secrets[key] = value
        else:
            plain[key] = value
    return plain, secrets


def operator_secrets() -> dict[str, str]:
    """Credentials forwarded from the operator's environment when set (HF_TOKEN)."""
    return {name: os.environ[name] for name in FORWARDED_SECRETS if os.environ.get(name)}


def prepare_up(settings: Settings, topology: str, recipe_name: str, nodes: str | None,
               sets: tuple[str, ...], env: tuple[str, ...], force: bool) -> UpRequest:
    """Load, override, lint and lay out a recipe; refuse lint errors unless forced."""
    from orchestrator.recipe import with_overrides
    from orchestrator.rules import errors, lint
    from orchestrator.topology import Topology, assign

    inventory = settings.load_inventory()
    plain_env, secrets = parse_env(env)
    recipe = with_overrides(settings.book().resolve(recipe_name), parse_sets(sets), plain_env)
    findings = lint(recipe)
    if errors(findings) and not force:
        lines = "\n".join(f"  {f.rule}: {f.message}" for f in errors(findings))
        raise LintError(f"recipe '{recipe.name}' ({recipe.source}) breaks rules:\n{lines}\n"
                        "fix the recipe, or pass --force to launch anyway")
    chosen = split_nodes(nodes)
    layout = assign(Topology(topology), recipe, inventory, chosen)
    return UpRequest(Topology(topology), recipe, layout, inventory, {**operator_secrets(), **secrets}, findings)


def split_nodes(nodes: str | None) -> list[str] | None:
    """`--nodes a,b` into names."""
    if not nodes:
        return None
    return [n.strip() for n in nodes.split(",") if n.strip()]


def select_nodes(inventory: Inventory, nodes: str | None, all_nodes: bool) -> tuple[Node, ...]:
    """The nodes `--nodes` names, or every node with --all."""
    chosen = split_nodes(nodes)
    if all_nodes and chosen:
        raise ConfigError("pass either --all or --nodes, not both")
    if chosen:
        return tuple(inventory.node(n) for n in chosen)
    if all_nodes:
        return inventory.nodes
    raise ConfigError("say which nodes: --all, or --nodes NAME[,NAME...]")


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

