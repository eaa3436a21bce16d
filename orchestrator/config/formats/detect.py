"""Tell a recipe's format from its content and read it into a native recipe mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.config.formats.base import recipe_name, refuse
from orchestrator.config.formats.eugr import read_eugr
from orchestrator.config.formats.sparkrun import read_sparkrun
from orchestrator.config.formats.writeup import read_writeup

NATIVE_KEYS = ("description", "extends", "model", "revision", "served_name", "container", "args", "env", "mounts",
               "benchmark")
SPARKRUN_MARKERS = ("runtime", "sparkrun_version", "include", "overrides", "min_nodes", "max_nodes", "mode",
                    "runtime_config", "metadata", "model_revision", "defaults", "command")
FORMATS = ("native", "writeup", "eugr-v1", "sparkrun-v2")


def recipe_format(data: Any) -> str:
    """native, writeup, eugr-v1 or sparkrun-v2, chosen by content; 'unknown' when nothing fits."""
    if not isinstance(data, dict):
        return "unknown"
    version = str(data.get("recipe_version", ""))
    if version == "1":
        return "eugr-v1"
    if version == "2" or any(key in data for key in SPARKRUN_MARKERS):
        return "sparkrun-v2"
    if _writeup_markers(data):
        return "writeup"
    if data and all(key in NATIVE_KEYS for key in data):
        return "native"
    return "unknown"


def _writeup_markers(data: dict) -> bool:
    benchmark = data.get("benchmark")
    if isinstance(benchmark, dict) and ("enabled" in benchmark or isinstance(benchmark.get("args"), list)):
        return True
    args = data.get("args")
    return isinstance(args, dict) and "port" in args


def to_native(data: Any, path: str | Path, **options: Any) -> tuple[dict[str, Any], list[str]]:
    """(native recipe mapping, notes) for a recipe of any supported format.

    options: `topology` ('solo' or 'cluster') and `overrides` (eugr's CLI overrides) for eugr v1 recipes.
    """
    kind = recipe_format(data)
    if kind == "unknown":
        raise refuse(path, "(top)", "not a recipe format sparkctl reads: expected a native recipe, the write-up's "
                                    "format, an eugr v1 recipe (recipe_version: \"1\") or a sparkrun v2 recipe")
    if options and kind != "eugr-v1":
        raise refuse(path, "(options)", f"{', '.join(options)} apply to eugr v1 recipes only, not {kind}")
    if kind == "native":
        return dict(data), ["mapped: already a native recipe"]
    if kind == "writeup":
        native, notes = read_writeup(data, path)
    elif kind == "eugr-v1":
        native, notes = read_eugr(data, path, **options)
    else:
        native, notes = read_sparkrun(data, path)
    return native, [f"format: {kind}", *notes]


def suggested_name(data: Any, path: str | Path) -> str:
    """The native recipe name to save an import under: the file's stem (foreign names are display text)."""
    return recipe_name(Path(path).stem)
