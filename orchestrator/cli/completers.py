"""What <TAB> offers: recipe names, node names and stored bench run ids, read without loading any model.

Completion runs on every <TAB>, so it reads only directory listings and the inventory's YAML: no pydantic
models, no SSH.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import click
from click.shell_completion import CompletionItem


def _root_param(ctx: click.Context, name: str) -> str | None:
    """A global option as typed before the command (`--inventory`, `--recipes-dir`)."""
    return ctx.find_root().params.get(name)


def recipe_dirs(explicit: str | None) -> list[Path]:
    """The recipe search path, as `RecipeBook` walks it, without loading any recipe."""
    from orchestrator.config.paths import builtin_dir, config_dir

    dirs = [Path(explicit)] if explicit else []
    return [d for d in [*dirs, Path("recipes"), config_dir() / "recipes", builtin_dir("recipes")] if d.is_dir()]


def recipe_names(explicit: str | None) -> list[str]:
    """Every recipe name on the search path."""
    return sorted({p.stem for d in recipe_dirs(explicit) for p in d.glob("*.yaml")})


def inventory_path(explicit: str | None) -> Path | None:
    """The inventory `find_inventory` would pick, or None."""
    from orchestrator.config.paths import config_dir

    for candidate in (explicit, os.environ.get("SPARKCTL_INVENTORY"), "inventory.yaml", config_dir() / "inventory.yaml"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def node_names(explicit: str | None) -> dict[str, str]:
    """Node name -> management IP from the inventory's YAML; empty when it cannot be read."""
    import yaml

    path = inventory_path(explicit)
    try:
        nodes = (yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {})["nodes"]
        return {str(n["name"]): str(n.get("ip", "")) for n in nodes}
    except (AttributeError, OSError, KeyError, TypeError, yaml.YAMLError):
        return {}


def _matching(values: Iterable[str], incomplete: str, help_of: Callable[[str], str | None] = lambda _: None):
    return [CompletionItem(v, help=help_of(v)) for v in values if v.startswith(incomplete)]


def complete_recipe(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Recipe names; a path-looking word completes as a file instead."""
    if incomplete.startswith((".", "/", "~")) or os.sep in incomplete:
        return [CompletionItem(incomplete, type="file")]
    return _matching(recipe_names(_root_param(ctx, "recipes_dir")), incomplete)


def complete_node(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """One node name."""
    nodes = node_names(_root_param(ctx, "inventory"))
    return _matching(nodes, incomplete, nodes.get)


def complete_nodes(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """A comma-separated node list: completes the name after the last comma."""
    done, _, last = incomplete.rpartition(",")
    chosen = set(done.split(",")) if done else set()
    nodes = node_names(_root_param(ctx, "inventory"))
    prefix = f"{done}," if done else ""
    return [CompletionItem(prefix + n, help=nodes[n]) for n in nodes if n.startswith(last) and n not in chosen]


def complete_run(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Stored bench run ids, newest first."""
    from orchestrator.bench.store import list_ids

    return _matching(reversed(list_ids()), incomplete)
