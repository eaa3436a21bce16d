"""eugr/spark-vllm-docker v1 recipes (`recipe_version: "1"`) read into native recipes.

How eugr's run-recipe.py runs one (the behaviour reproduced here):
- `command` is filled with Python `str.format(**params)`, params = `defaults` updated by the CLI overrides
  (--port, --host, --tp, --gpu-mem, --max-model-len); a placeholder without a value stops the run.
- solo: `tensor_parallel` is forced to 1 unless --tp was given, and every `--distributed-executor-backend X`
  (space-separated form only) is cut out, dropping lines left empty or holding only a backslash.
- cluster: launch-cluster.sh runs the command on the head; with `--ray` it appends
  `--distributed-executor-backend ray` when the command has none; without Ray (its default) it strips that
  flag and appends `--nnodes N --node-rank R --master-addr HEAD --master-port 29501` (`--headless` on R > 0).
- `env` is written as `export KEY="value"` lines before the command; `mods` are directories (relative to
  the eugr checkout) copied into every container and run there before the command, head first.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchestrator.config.formats.base import (
    allowed_topologies,
    env_name,
    one_line,
    plain,
    refuse,
    require_list,
    require_mapping,
    resolve_mod,
)
from orchestrator.config.formats.servemap import serve_fields
from orchestrator.config.formats.shellwords import ShellSyntax, split_words
from orchestrator.config.formats.vllmargs import ServeSyntax, parse_serve
from orchestrator.errors import ConfigError

REQUIRED = ("name", "recipe_version", "container", "command")
KNOWN = {*REQUIRED, "description", "model", "mods", "defaults", "env", "build_args", "cluster_only", "solo_only"}
CLI_OVERRIDES = ("port", "host", "tensor_parallel", "gpu_memory_utilization", "max_model_len")
MASTER_PORT = 29501
_SOLO_BACKEND = re.compile(r"--distributed-executor-backend\s+\S+")
_ANY_BACKEND = re.compile(r"--distributed-executor-backend(=|\s+)\S+")
_HAS_BACKEND = re.compile(r"--distributed-executor-backend(=|\s|$)")
_SHELL_IN_DOUBLE_QUOTES = re.compile(r'["$`\\\x00-\x1f\x7f]')


def read_eugr(data: dict, path: str | Path, topology: str | None = None,
              overrides: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The native recipe and notes for an eugr v1 recipe, as eugr would run it in that topology."""
    _check_shape(data, path)
    overrides = _overrides(overrides or {}, path)
    topology = topology or default_topology(data, path, overrides)
    _check_topology(data, path, topology)
    fields, notes = serve_fields(render_command(data, path, topology, overrides), path, "command")
    _check_gpus(fields["args"], path, topology)
    native = _base(data, path, fields, notes)
    native["env"] = _env(data, path)
    mods = _mods(data, path, notes)
    if mods:
        native["mods"] = mods
    if data.get("solo_only") or data.get("cluster_only"):
        native["topologies"] = allowed_topologies(bool(data.get("solo_only")), bool(data.get("cluster_only")))
        notes.append(f"mapped: solo_only/cluster_only -> topologies: {native['topologies']}")
    notes += _other_notes(data, topology)
    return native, notes


def render_command(data: dict, path: str | Path, topology: str, overrides: dict[str, Any] | None = None) -> str:
    """The command line run-recipe.py writes into its launch script for that topology."""
    params = {**require_mapping(path, "defaults", data.get("defaults")), **(overrides or {})}
    if topology == "solo" and "tensor_parallel" not in (overrides or {}):
        params["tensor_parallel"] = 1
    try:
        command = data["command"].format(**params)
    except KeyError as exc:
        raise refuse(path, "command", f"placeholder {{{exc.args[0]}}} has no value in defaults; eugr's runner "
                                      "stops on it too") from None
    except (IndexError, ValueError, AttributeError) as exc:
        raise refuse(path, "command", f"cannot be filled with str.format: {exc}") from None
    if topology == "solo":
        command = _SOLO_BACKEND.sub("", command)
        command = "\n".join(line for line in command.split("\n") if line.strip() not in ("", "\\"))
    command = command.rstrip()
    if command.endswith("\\"):
        command = command.rstrip("\\\n").rstrip()
    return command


def eugr_serve_argv(data: dict, path: str | Path, topology: str, *, ray: bool = True, head_ip: str = "HEAD_IP",
                    overrides: dict[str, Any] | None = None) -> list[str]:
    """The head's `vllm serve` argv eugr's runner and launcher produce for that topology."""
    _check_shape(data, path)
    command = render_command(data, path, topology, _overrides(overrides or {}, path))
    if topology == "cluster" and ray and not _HAS_BACKEND.search(command):
        command += " --distributed-executor-backend ray"
    elif topology == "cluster" and not ray:
        nodes = _gpus(parse_serve(_words(command, path)).flags)
        command = _ANY_BACKEND.sub("", command)
        command += f" --nnodes {nodes} --node-rank 0 --master-addr {head_ip} --master-port {MASTER_PORT}"
    return _words(command, path)


def default_topology(data: dict, path: str | Path, overrides: dict[str, Any] | None = None) -> str:
    """solo for solo_only, cluster for cluster_only, else what the defaults' TP x PP imply."""
    if data.get("solo_only"):
        return "solo"
    if data.get("cluster_only"):
        return "cluster"
    try:
        flags = parse_serve(split_words(render_command(data, path, "cluster", overrides))).flags
    except (ConfigError, ShellSyntax, ServeSyntax):
        return "solo"  # eugr's solo run supplies tensor_parallel; the solo rendering reports any real problem
    return "cluster" if _gpus(flags) > 1 else "solo"


def _words(command: str, path: str | Path) -> list[str]:
    try:
        return split_words(command)
    except ShellSyntax as exc:
        raise refuse(path, "command", str(exc)) from None


def _gpus(flags: dict[str, Any]) -> int:
    sizes = [flags.get(name, 1) for name in ("tensor-parallel-size", "pipeline-parallel-size")]
    return sizes[0] * sizes[1] if all(isinstance(size, int) for size in sizes) else 1


def _check_shape(data: dict, path: str | Path) -> None:
    for key in REQUIRED:
        if key not in data:
            raise refuse(path, key, "missing; eugr v1 recipes require name, recipe_version, container and command")
    if str(data["recipe_version"]) != "1":
        raise refuse(path, "recipe_version", f"'{data['recipe_version']}' is not the eugr v1 format sparkctl reads")
    if not isinstance(data["command"], str):
        raise refuse(path, "command", "expected the shell command as text")
    if data.get("solo_only") and data.get("cluster_only"):
        raise refuse(path, "solo_only", "solo_only and cluster_only are both true; eugr can run it nowhere")


def _overrides(overrides: dict[str, Any], path: str | Path) -> dict[str, Any]:
    for key in overrides:
        if key not in CLI_OVERRIDES:
            raise refuse(path, f"override {key}", f"eugr's runner overrides only {', '.join(CLI_OVERRIDES)}")
    return overrides


def _check_topology(data: dict, path: str | Path, topology: str) -> None:
    if topology not in ("solo", "cluster"):
        raise refuse(path, "topology", f"'{topology}': eugr recipes run solo or cluster (replicas run the solo form)")
    if topology == "solo" and data.get("cluster_only"):
        raise refuse(path, "cluster_only", "the recipe requires cluster mode; it cannot be imported for solo")
    if topology == "cluster" and data.get("solo_only"):
        raise refuse(path, "solo_only", "the recipe requires solo mode; it cannot be imported for a cluster")


def _check_gpus(args: dict[str, Any], path: str | Path, topology: str) -> None:
    gpus = _gpus(args)
    if topology == "solo" and gpus > 1:
        raise refuse(path, "command", f"in solo mode the command still asks for TP x PP = {gpus} GPUs; one Spark "
                                      "has one (eugr's solo run would fail the same way)")
    if topology == "cluster" and gpus == 1:
        raise refuse(path, "defaults.tensor_parallel", "in cluster mode the command asks for TP x PP = 1; import "
                                                       "it as solo")


def _base(data: dict, path: str | Path, fields: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    native: dict[str, Any] = {}
    if data.get("description"):
        native["description"] = one_line(path, "description", data["description"])
    native["model"] = fields["model"]
    for key in ("revision", "served_name"):
        if key in fields:
            native[key] = fields[key]
    native["container"] = plain(path, "container", data["container"])
    if "api_port" in fields:
        native["api_port"] = fields["api_port"]
    native["args"] = fields["args"]
    if data.get("model") and data["model"] != fields["model"]:
        notes.append(f"mapped: model '{data['model']}' is only what eugr's --setup downloads; vLLM serves "
                     f"'{fields['model']}', which becomes model")
    return native


def _env(data: dict, path: str | Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in require_mapping(path, "env", data.get("env")).items():
        where = f"env.{key}"
        text = str(value)  # eugr writes export KEY="{value}": True becomes True, None becomes None
        if _SHELL_IN_DOUBLE_QUOTES.search(text):
            raise refuse(path, where, f"{text!r} holds a quote, '$', backtick, backslash or control character that "
                                      "bash would interpret inside eugr's double quotes; write the final value")
        env[env_name(path, where, key)] = text
    return env


def _mods(data: dict, path: str | Path, notes: list[str]) -> list[str]:
    roots = mod_roots(path)
    listed = require_list(path, "mods", data.get("mods"))
    mods = [resolve_mod(path, f"mods[{i}]", mod, roots) for i, mod in enumerate(listed)]
    for original, resolved in zip(listed, mods, strict=True):
        notes.append(f"mapped: mods '{original}' -> {resolved} (its run.sh runs in every container before serving)")
    return mods


def mod_roots(path: str | Path) -> list[Path]:
    """Where relative mod paths resolve: the eugr checkout holding the recipe, else each folder up from it."""
    here = Path(path).resolve().parent
    # run-recipe.py resolves mods against its own directory (the checkout root), not the recipe's.
    for folder in (here, *here.parents):
        if (folder / "run-recipe.py").is_file() or (folder / "launch-cluster.sh").is_file():
            return [folder]
    return [here, *here.parents]


def _other_notes(data: dict, topology: str) -> list[str]:
    notes = [f"mapped: imported for topology {topology}"]
    if data.get("build_args"):
        notes.append(f"not applicable: build_args {data['build_args']}: sparkctl does not build images; build "
                     f"'{data['container']}' with eugr's build-and-copy.sh, then sync it to every node")
    for key in sorted(set(data) - KNOWN):
        notes.append(f"not applicable: {key}: eugr's runner ignores it too")
    return notes
