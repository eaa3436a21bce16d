"""What preflight learns, checked before any container starts: the model in every node's cache, vLLM's own flags."""

from __future__ import annotations

import difflib

from orchestrator.config.recipe import Recipe
from orchestrator.errors import ConfigError
from orchestrator.plan import argv
from orchestrator.remote.executor import Report

# What `--backend mp` adds to every serve line: vLLM's own multi-node launch, absent from older vLLMs.
RANK_FLAGS = ("--nnodes", "--node-rank", "--master-addr", "--master-port", "--headless")


def recipe_flags(recipe: Recipe) -> list[str]:
    """The long flags the recipe puts on `vllm serve` (each value's own words left out)."""
    return [word for word in argv.arg_flags(recipe.args) if word.startswith("--")]


def unknown_flags(recipe: Recipe, image_flags: set[str], extra: tuple[str, ...] = ()) -> list[str]:
    """Each recipe flag (and each of sparkctl's own, extra) the image's vLLM does not accept, with a close match."""
    problems = []
    for flag in [*recipe_flags(recipe), *extra]:
        if flag in image_flags or flag.replace("_", "-") in image_flags or flag.split(".", 1)[0] in image_flags:
            continue
        close = difflib.get_close_matches(flag, sorted(image_flags), n=1, cutoff=0.75)
        problems.append(f"{flag}" + (f" (did you mean {close[0]}?)" if close else ""))
    return problems


def check_image_flags(report: Report, recipe: Recipe, extra: tuple[str, ...] = ()) -> None:
    """Refuse, before anything starts, a flag the image's `vllm serve --help=all` does not list."""
    for facts in report.facts("preflight").values():
        listed = facts.get("vllm_flags")
        if not listed or listed == "unknown":
            continue
        problems = unknown_flags(recipe, set(listed.split()), extra)
        if problems:
            raise ConfigError(f"recipe '{recipe.name}' ({recipe.source}): the vLLM in image {recipe.container} has no "
                              f"{', '.join(problems)}; remove or rename it in the recipe's args, or use an image whose "
                              "vLLM has it (its flags: docker run --rm --entrypoint vllm IMAGE serve --help=all)")


def check_model_cache(report: Report, recipe: Recipe) -> None:
    """Refuse a model missing (or half-copied) on a node: vLLM would download it there, racing the readiness deadline."""
    broken = {node: facts.get("model") for node, facts in report.facts("preflight").items()
              if facts.get("model") in ("missing", "dangling")}
    if broken:
        listed = ", ".join(f"{node} ({state})" for node, state in sorted(broken.items()))
        raise ConfigError(f"model {recipe.model} is not whole in the Hugging Face cache on {listed}; download it once "
                          f"and copy it over the fabric with 'sparkctl models sync RECIPE' (RECIPE: {recipe.name}, or its "
                          f"file {recipe.source}; add -e HF_TOKEN for a gated model), or run up with --setup, which does "
                          "the same first")


def unread_env(report: Report, recipe: Recipe) -> list[str]:
    """The recipe's VLLM_* variables that the image's vLLM does not read (it would ignore them)."""
    for facts in report.facts("preflight").values():
        listed = facts.get("vllm_env")
        if listed and listed != "unknown":
            known = set(listed.split())
            return sorted(name for name in recipe.env if name.startswith("VLLM_") and name not in known)
    return []
