"""Probes that run on a node against 127.0.0.1: is the server there, and does it answer with one token?"""

from __future__ import annotations

import json
from dataclasses import dataclass

from orchestrator.plan.templates import render

PROBE_TIMEOUT = 90.0
LOG_TAIL = 40


@dataclass(frozen=True)
class ServerKind:
    """Where a kind of server answers health and completions."""

    health_path: str
    completion_path: str
    prompt_key: str


VLLM = ServerKind("/health", "/v1/completions", "prompt")
LITELLM = ServerKind("/health/readiness", "/v1/chat/completions", "messages")


def completion_body(kind: ServerKind, served_name: str) -> str:
    """The smallest request that makes the server produce one token."""
    prompt = "ping" if kind.prompt_key == "prompt" else [{"role": "user", "content": "ping"}]
    return json.dumps({"model": served_name, kind.prompt_key: prompt, "max_tokens": 1}, separators=(",", ":"))


def local_url(port: int) -> str:
    """The server's base URL as seen on its own node."""
    return f"http://127.0.0.1:{port}"


def server_probe(templates_dir: str | None, container: str, port: int, served_name: str,
                 kind: ServerKind = VLLM, key_env: str = "", completion_deadline: int = 60) -> str:
    """The probe script: container state (with its last log lines if it stopped), then the HTTP answers."""
    return render("server_probe", templates_dir, container=container, go_state="{{.State.Status}}", tail=LOG_TAIL,
                  key_env=key_env, base_url=local_url(port), health_path=kind.health_path,
                  completion_path=kind.completion_path, completion_body=completion_body(kind, served_name),
                  completion_deadline=completion_deadline)


def container_probe(templates_dir: str | None, container: str) -> str:
    """Only whether the container runs (with its last log lines if not): for nodes that serve nothing themselves."""
    return render("container_state", templates_dir, container=container, go_state="{{.State.Status}}", tail=LOG_TAIL)
