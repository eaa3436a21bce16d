"""Recipes in the recipe-system write-up's format read into native recipes.

The write-up's recipe: `model`, `container`, `args` (vLLM flags without dashes, `port: 8000` among them,
true for a bare flag), `env`, and `benchmark: {enabled: true, framework: llama-benchy, args: [words]}`
where `enabled` runs the benchmark once the deployment is up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.config.formats.base import env_name, one_line, plain, refuse, require_mapping
from orchestrator.config.formats.benchy import benchy_args
from orchestrator.config.formats.servemap import line_fields
from orchestrator.config.formats.vllmargs import ServeLine

KNOWN = ("name", "description", "model", "container", "args", "env", "benchmark")
BENCHMARK_KEYS = ("enabled", "framework", "args")


def read_writeup(data: dict, path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The native recipe and notes for a write-up recipe."""
    for key in data:
        if key not in KNOWN:
            raise refuse(path, key, f"not a key of the write-up's recipe format ({', '.join(KNOWN)})")
    for key in ("model", "container"):
        if not data.get(key):
            raise refuse(path, key, "missing; the write-up's recipes name the model and the container")
    fields, notes = line_fields(_serve_line(data, path), path, "args", sep=".")
    native: dict[str, Any] = {}
    if data.get("description"):
        native["description"] = one_line(path, "description", data["description"])
    native["model"] = fields["model"]
    native.update({key: fields[key] for key in ("revision", "served_name") if key in fields})
    native["container"] = plain(path, "container", data["container"])
    if "api_port" in fields:
        native["api_port"] = fields["api_port"]
    native["args"] = fields["args"]
    native["env"] = _env(data, path)
    if data.get("benchmark") is not None:
        native["benchmark"] = _benchmark(data["benchmark"], path, notes)
    return native, notes


def _serve_line(data: dict, path: str | Path) -> ServeLine:
    line = ServeLine(plain(path, "model", data["model"]))
    for key, value in require_mapping(path, "args", data.get("args")).items():
        if not isinstance(key, str) or key.startswith("-") or not key:
            raise refuse(path, f"args.{key}", "write flags without leading dashes, e.g. max-model-len")
        name = key.replace("_", "-")
        if name in line.flags:
            raise refuse(path, f"args.{key}", f"given twice (as '{line.spelled[name]}' and '{key}')")
        line.flags[name] = value
        line.spelled[name] = key
    return line


def _env(data: dict, path: str | Path) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for key, value in require_mapping(path, "env", data.get("env")).items():
        if isinstance(value, (dict, list)) or value is None:
            raise refuse(path, f"env.{key}", f"expected one value, got {value!r}")
        env[env_name(path, f"env.{key}", key)] = value
    return env


def _benchmark(section: Any, path: str | Path, notes: list[str]) -> dict[str, Any]:
    section = require_mapping(path, "benchmark", section)
    for key in section:
        if key not in BENCHMARK_KEYS:
            raise refuse(path, f"benchmark.{key}", f"not a key of the write-up's benchmark ({', '.join(BENCHMARK_KEYS)})")
    framework = section.get("framework", "llama-benchy")
    if framework != "llama-benchy":
        raise refuse(path, "benchmark.framework", f"'{framework}': sparkctl benchmarks with llama-benchy only")
    enabled = section.get("enabled", False)
    if not isinstance(enabled, bool):
        raise refuse(path, "benchmark.enabled", f"expected true or false, got {enabled!r}")
    args, bench_notes = benchy_args(section.get("args", []), path, "benchmark.args")
    notes += bench_notes
    native: dict[str, Any] = {"framework": "llama-benchy", "args": args}
    if enabled:
        native["after_up"] = True
        notes.append("mapped: benchmark.enabled: true -> benchmark.after_up: true (run the benchmark after up)")
    return native
