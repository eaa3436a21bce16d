"""sparkrun v2 recipe layers: `include` (a sibling base recipe) and `overrides` (conditional tuning).

include: a bare name is a `.yaml`/`.yml` file in the same directory (no path separators), loaded
recursively (at most 8 deep, no cycles, never a v1 recipe); the includer merges over it: mappings key by
key, a null deletes, values inside `defaults` and `env` replace whole, `overrides` lists append, a changed
`model` drops the base's `metadata`. `@registry/name` bases need sparkrun's registries and are refused.

overrides: entries `{when: {...}, defaults/env/container: ...}`; every `when` key must hold, matching
entries apply in order, later wins. sparkctl knows the launch shape from the recipe itself (one GPU per
Spark, nodes = TP x PP), so shape, runtime-family and `config` selectors are decided here; hardware
selectors cannot be decided before a launch and are refused. An unknown selector or operator makes the
entry not match, as in sparkrun.
"""

from __future__ import annotations

import re
from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config.formats.base import refuse

MAX_DEPTH = 8
ATOMIC = ("defaults", "env")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]*$")
SHAPE = {"tp": "tensor_parallel", "pp": "pipeline_parallel", "dp": "data_parallel", "ep": "expert_parallel",
         "cp": "context_parallel"}
HARDWARE = ("platform", "vendor", "accelerator", "arch", "capability", "memory_gb")
LAYERS = ("defaults", "env", "container")
FORBIDDEN_DEFAULTS = ("port", "served_model_name", *SHAPE.values())
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte")


def resolve_includes(data: dict, path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """The recipe with its include chain merged in."""
    if "include" not in data:
        return data
    ref = data["include"]
    if len(seen) >= MAX_DEPTH:
        raise refuse(path, "include", f"the include chain is deeper than {MAX_DEPTH} recipes")
    base_path = _locate(ref, path)
    if base_path.resolve() in seen or base_path.resolve() == path.resolve():
        raise refuse(path, "include", f"include cycle: '{ref}' is already part of this chain")
    try:
        base = yaml.safe_load(base_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise refuse(path, "include", f"cannot read '{ref}' ({base_path}): {exc}") from None
    if not isinstance(base, dict):
        raise refuse(base_path, "(top)", "an included recipe must be a YAML mapping")
    if str(base.get("recipe_version", "2")) == "1":
        raise refuse(path, "include", f"'{ref}' is a v1 recipe; sparkrun includes only v2 recipes")
    base = resolve_includes(base, base_path, (*seen, path.resolve()))
    return merge(base, data)


def _locate(ref: Any, path: Path) -> Path:
    if not isinstance(ref, str) or not ref.strip():
        raise refuse(path, "include", f"expected a recipe name, got {ref!r}")
    ref = ref.strip()
    if ref.startswith("@"):
        raise refuse(path, "include", f"'{ref}' is a sparkrun registry recipe; sparkctl reads files only: "
                                      "copy the base next to this recipe and include it by name")
    if not _SAFE_NAME.match(ref):
        raise refuse(path, "include", f"'{ref}' must name a recipe in the same directory (no path separators)")
    names = [ref] if ref.endswith((".yaml", ".yml")) else [ref + ".yaml", ref + ".yml"]
    for name in names:
        candidate = path.parent / name
        if candidate.is_file():
            if not candidate.resolve().is_relative_to(path.parent.resolve()):
                raise refuse(path, "include", f"'{ref}' resolves outside this recipe's directory")
            return candidate
    raise refuse(path, "include", f"'{ref}' not found next to {path}")


def merge(base: dict, outer: dict) -> dict:
    """outer over base by sparkrun's include rules."""
    merged = deepcopy(base)
    merged.pop("include", None)
    if "model" in outer and outer["model"] != base.get("model"):
        merged.pop("metadata", None)
    for key, value in outer.items():
        if key == "include":
            continue
        if value is None:
            merged.pop(key, None)
        elif key == "overrides" and isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = merged[key] + deepcopy(value)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_map(merged[key], value, atomic=key in ATOMIC)
        else:
            merged[key] = deepcopy(value)
    return merged


def _merge_map(base: dict, outer: dict, atomic: bool) -> dict:
    result = dict(base)
    for key, value in outer.items():
        if value is None:
            result.pop(key, None)
        elif not atomic and isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge_map(result[key], value, atomic=False)
        else:
            result[key] = deepcopy(value)
    return result


def apply_overrides(data: dict, path: Path, notes: list[str]) -> dict:
    """The recipe with its matching `overrides` entries applied to defaults, env and container."""
    entries = data.get("overrides") or []
    if not isinstance(entries, list):
        raise refuse(path, "overrides", "expected a list of {when: ..., defaults/env/container: ...} entries")
    declared = dict(data.get("defaults") or {})
    shape = _shape(declared)
    result = {**data, "defaults": dict(declared), "env": dict(data.get("env") or {})}
    for index, entry in enumerate(entries):
        where = f"overrides[{index}]"
        _check_entry(entry, path, where)
        matched, reason = _matches(entry["when"], shape, declared, path, where)
        notes.append(f"{'mapped' if matched else 'not applicable'}: {where} {reason}")
        if matched:
            result["defaults"].update(deepcopy(entry.get("defaults") or {}))
            result["env"].update(entry.get("env") or {})
            if entry.get("container"):
                result["container"] = entry["container"]
    result.pop("overrides", None)
    return result


def _shape(defaults: dict) -> dict[str, int]:
    shape = {short: int(defaults.get(long) or 1) for short, long in SHAPE.items()}
    shape["nodes"] = shape["tp"] * shape["pp"] * shape["dp"]  # one GPU per Spark
    shape["gpus_per_node"] = 1
    return shape


def _check_entry(entry: Any, path: Path, where: str) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("when"), dict) or not entry["when"]:
        raise refuse(path, where, "needs a non-empty 'when:' mapping")
    unknown = sorted(set(entry) - {"when", *LAYERS})
    if unknown:
        raise refuse(path, f"{where}.{unknown[0]}", f"an override may set only {', '.join(LAYERS)}")
    forbidden = sorted(set(entry.get("defaults") or {}) & set(FORBIDDEN_DEFAULTS))
    if forbidden:
        raise refuse(path, f"{where}.defaults.{forbidden[0]}", "sparkrun refuses overriding it: it identifies the "
                                                                "workload or is read by 'when'")


def _matches(when: dict, shape: dict[str, int], config: dict, path: Path, where: str) -> tuple[bool, str]:
    failed: list[str] = []
    for selector, predicate in when.items():
        if selector in HARDWARE:
            raise refuse(path, f"{where}.when.{selector}", "hardware selectors are decided per launch by sparkrun; "
                                                            "sparkctl cannot decide them ahead: split the recipe")
        if selector == "runtime":
            raise refuse(path, f"{where}.when.runtime", "sparkrun picks vllm-ray or vllm-distributed per launch; "
                                                         "sparkctl cannot decide it ahead: use runtime_family")
        if selector == "config":
            checks = [(f"config.{k}", p, config.get(k), True) for k, p in (predicate or {}).items()]
        elif selector in shape:
            checks = [(selector, predicate, shape[selector], False)]
        elif selector == "runtime_family":
            checks = [(selector, predicate, "vllm", False)]
        else:
            return False, f"skipped: selector '{selector}' cannot be evaluated (sparkrun skips it too)"
        for name, pred, actual, absent_ok in checks:
            verdict = _holds(pred, actual, absent_ok)
            if verdict is None:
                return False, f"skipped: unknown operator in {name} (sparkrun skips it too)"
            if not verdict:
                failed.append(f"{name}={actual}")
    return (False, f"did not match ({', '.join(failed)})") if failed else (True, "matched: applied")


def _holds(predicate: Any, actual: Any, absent_ok: bool) -> bool | None:
    if isinstance(predicate, dict):
        ops = list(predicate.items())
    else:
        ops = [("in", predicate)] if isinstance(predicate, list) else [("eq", predicate)]
    if any(op not in OPERATORS for op, _ in ops):
        return None
    return all(_test(op, operand, actual, absent_ok) for op, operand in ops)


def _test(op: str, operand: Any, actual: Any, absent_ok: bool) -> bool:
    if actual is None:
        return absent_ok and op in ("ne", "not_in")
    value = _norm(actual)
    if op in ("eq", "ne", "in", "not_in"):
        wanted = operand if op in ("in", "not_in") and isinstance(operand, list) else [operand]
        hit = any(isinstance(value, bool) == isinstance(w, bool) and value == _norm(w) for w in wanted)
        return hit if op in ("eq", "in") else not hit
    bound = _norm(operand)
    if not all(isinstance(v, float) and not isinstance(v, bool) for v in (value, bound)):
        return False
    return {"gt": value > bound, "gte": value >= bound, "lt": value < bound, "lte": value <= bound}[op]


def _norm(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        return text.lower()
