"""Options every command shares, and the parsing of `--set`, `-e` and `--nodes`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from orchestrator.config.inventory import Inventory, Node, find_inventory, load_inventory
from orchestrator.config.values import MAX_TEXT, env_name, is_secret_name, shown
from orchestrator.config.yamlsource import load_value
from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.config.book import RecipeBook


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
        # Deferred: node-only commands (drop-caches, status) never pay for building the pydantic recipe models.
        from orchestrator.config.book import RecipeBook, recipe_dirs

        return RecipeBook(recipe_dirs(self.recipes_dir))

    def load_inventory(self) -> Inventory:
        """The inventory this invocation uses."""
        return load_inventory(find_inventory(self.inventory))


def parse_sets(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`--set key=value` into recipe arg overrides; values are YAML 1.2 (true, 0.8, 4096; `on`, `no` stay text)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {shown(pair)}: expected key=value, e.g. --set max-model-len=8192")
        overrides[key.removeprefix("--")] = _set_value(key, raw)
    return overrides


def _set_value(key: str, raw: str) -> Any:
    """One `--set` value read as a recipe file reads values; empty means delete."""
    if raw == "":
        return None
    if len(raw) > MAX_TEXT:
        raise ConfigError(f"--set {shown(key)}: the value is {len(raw):,} characters long; the limit is {MAX_TEXT:,}")
    try:
        return load_value(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not YAML"
        raise ConfigError(f"--set {shown(key)}: cannot read the value ({problem}); quote it as a YAML string, "
                          f"e.g. --set '{shown(key)}=\"...\"'") from None


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
