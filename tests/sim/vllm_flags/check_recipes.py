"""Check recipes against the flag table of their image: `vllm serve` options and VLLM_* variables it does not know.

    python tests/sim/vllm_flags/check_recipes.py [RECIPES_DIR]     # default: the built-in recipes/

A recipe's `args` become `--key` options (as sparkctl renders them), its `env` VLLM_* names are looked up in
the table's `env_vars`; `extends` is followed (args/env merged key by key, null deletes). The image's table is
the one the simulated image of that tag follows (tests/sim/image.py TABLE_BY_TAG). Exit status 1 when a
recipe has a problem. Self-contained on purpose: it reads the YAML itself, not sparkctl's recipe code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DEFAULT_TABLE = "vllm-0.33.0"
TABLE_BY_TAG = {"vllm-node-mxfp4": "vllm-mxfp4-fork"}  # as in tests/sim/image.py


def load_recipe(name: str, directory: Path, seen: tuple[str, ...] = ()) -> dict:
    """A recipe with its `extends` chain merged."""
    if name in seen:
        raise SystemExit(f"recipe {name}: extends loop {' -> '.join(seen + (name,))}")
    data = yaml.safe_load((directory / f"{name}.yaml").read_text()) or {}
    parent = data.get("extends")
    if not parent:
        return data
    merged = load_recipe(parent, directory, seen + (name,))
    for key, value in data.items():
        if key in ("args", "env", "mounts", "benchmark") and isinstance(value, dict):
            section = dict(merged.get(key) or {})
            for inner, inner_value in value.items():
                if inner_value is None:
                    section.pop(inner, None)
                else:
                    section[inner] = inner_value
            merged[key] = section
        else:
            merged[key] = value
    return merged


def table_for(container: str) -> dict:
    """The flag table of an image tag."""
    name = TABLE_BY_TAG.get(container.split(":", 1)[0], DEFAULT_TABLE)
    return json.loads((HERE / f"{name}.json").read_text())


def problems(recipe: dict) -> list[str]:
    """Options and VLLM_* variables of the recipe that its image's vLLM does not accept or read."""
    table = table_for(str(recipe.get("container") or ""))
    options = {flag: option for option in table["options"] for flag in option["flags"] + option["hidden_flags"]}
    found = []
    for key, value in (recipe.get("args") or {}).items():
        if value is False or value is None:
            continue
        flag = "--" + str(key).split(".", 1)[0].replace("_", "-")
        option = options.get(flag)
        if option is None:
            found.append(f"--{key}: not a `vllm serve` option of {table['vllm_version']}")
            continue
        if value is True and option["takes_value"] and option.get("nargs") != "?":
            found.append(f"--{key}: takes a value in {table['vllm_version']}, the recipe makes it a bare flag")
        if value is not True and not option["takes_value"]:
            found.append(f"--{key} {value}: a bare flag in {table['vllm_version']}, the recipe gives a value")
        choices = option.get("choices") or option.get("list_choices")
        values = str(value).split(",") if option.get("type") == "comma_list" else [value]
        if choices and value is not True and any(v not in choices for v in values):
            found.append(f"--{key} {value}: not among {choices} in {table['vllm_version']}")
    for name in (recipe.get("env") or {}):
        if name.startswith("VLLM_") and name not in table["env_vars"]:
            how = "logged as unknown" if table.get("unknown_env") == "warn" else "silently ignored"
            found.append(f"env {name}: not read by {table['vllm_version']} ({how})")
    return found


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    directory = Path(argv[0]) if argv else REPO / "recipes"
    bad = 0
    for path in sorted(directory.glob("*.yaml")):
        recipe = load_recipe(path.stem, directory)
        found = problems(recipe)
        bad += bool(found)
        table = table_for(str(recipe.get("container") or ""))["vllm_version"]
        print(f"{path.stem} ({recipe.get('container')}, vLLM {table}): {'ok' if not found else ''}")
        for problem in found:
            print(f"  {problem}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
