"""Turn a parsed `vllm serve` line into native recipe fields: model, served_name, api_port, revision, args."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchestrator.config.formats.base import refuse
from orchestrator.config.formats.shellwords import ShellSyntax, split_words
from orchestrator.config.formats.vllmargs import LAUNCHER_FLAGS, ServeLine, ServeSyntax, parse_serve

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Flags sparkctl sets itself on every launch, and what happens to the foreign value.
DROPPED = {
    "host": "sparkctl binds vLLM to 0.0.0.0 itself",
    "distributed-executor-backend": "sparkctl picks it from the topology (ray for cluster, none for solo)",
}
REFUSED = {
    "config": "reads more flags from a file sparkctl does not ship; put those flags in the recipe",
    "api-key": "would put a secret in the recipe and in argv; sparkctl keeps secrets out of both",
}


def serve_fields(command: str, path: str | Path, key: str) -> tuple[dict[str, Any], list[str]]:
    """Native fields and notes for a rendered shell command that runs `vllm serve`."""
    try:
        line = parse_serve(split_words(command))
    except ShellSyntax as exc:
        raise refuse(path, key, str(exc)) from None
    except ServeSyntax as exc:
        where = f"{key} --{exc.flag}" if exc.flag and not exc.flag.startswith("-") else key
        raise refuse(path, where, str(exc)) from None
    return line_fields(line, path, key)


def line_fields(line: ServeLine, path: str | Path, key: str, sep: str = " ") -> tuple[dict[str, Any], list[str]]:
    """Native fields and notes for a parsed serve line (flags are named `key<sep>flag` in messages)."""
    fields: dict[str, Any] = {"model": _model(line.model, path, key), "args": {}}
    notes: list[str] = []
    for name, value in line.flags.items():
        where = f"{key}{sep}{line.spelled.get(name, '--' + name)}"
        if name in REFUSED:
            raise refuse(path, where, REFUSED[name])
        if name in LAUNCHER_FLAGS:
            raise refuse(path, where, "a per-node rendezvous flag the launcher adds itself; remove it")
        if name in DROPPED:
            notes.append(f"not applicable: {where} {_shown(value)}: {DROPPED[name]}")
        elif name == "port":
            fields["api_port"] = _port(value, path, where)
            notes.append(f"mapped: {where} {value} -> api_port: {fields['api_port']}")
        elif name == "served-model-name":
            fields["served_name"] = _single_text(value, path, where)
            notes.append(f"mapped: {where} -> served_name: {fields['served_name']}")
        elif name == "revision":
            fields["revision"] = _single_text(value, path, where)
            notes.append(f"mapped: {where} -> revision: {fields['revision']}")
        else:
            fields["args"][name] = _arg_value(value, path, where)
    _check_data_parallel(fields["args"], path, key)
    return fields, notes


def _model(model: str, path: str | Path, key: str) -> str:
    if model.startswith(("/", "./", "../", "~")):
        raise refuse(path, key, f"serves the local path '{model}'; sparkctl serves Hugging Face repo ids "
                                "from its synced cache: name the repo id")
    if _CONTROL.search(model):
        raise refuse(path, key, "the model name contains a control character")
    return model


def _port(value: Any, path: str | Path, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise refuse(path, where, f"expected one port number, got {value!r}")
    return value


def _single_text(value: Any, path: str | Path, where: str) -> str:
    if isinstance(value, (list, bool)):
        raise refuse(path, where, f"expected exactly one value, got {value!r}; sparkctl serves one name")
    return str(value)


def _arg_value(value: Any, path: str | Path, where: str) -> Any:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str) and _CONTROL.search(item):
            raise refuse(path, where, "the value contains a control character (newline, tab, ...)")
    return value


def _check_data_parallel(args: dict[str, Any], path: str | Path, key: str) -> None:
    size = args.get("data-parallel-size", 1)
    if size != 1:
        raise refuse(path, f"{key} --data-parallel-size", f"data parallel {size!r} across Sparks is not a sparkctl "
                                                            "topology; use 'up replicas' for several copies")


def _shown(value: Any) -> str:
    return "" if value is True else str(value)
