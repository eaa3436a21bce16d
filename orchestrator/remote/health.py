"""Readiness: the container is running, /health is 200, /v1/models lists the name, one token comes back."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from orchestrator.config.inventory import Node
from orchestrator.errors import ConnectionFailed, ExecutionError
from orchestrator.plan.data import Readiness, Step
from orchestrator.remote.transport import Transport

HTTP_TIMEOUT = 5.0
PROBE_TIMEOUT = 10.0


def http_json(url: str, body: dict | None = None, api_key: str | None = None, timeout: float = HTTP_TIMEOUT):
    """GET (or POST body) and decode JSON; raises OSError/ValueError on failure."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", "application/json")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw else {}


def server_answers(ready: Readiness) -> str | None:
    """None when the server is fully ready, else what is still missing."""
    try:
        http_json(f"{ready.base_url}/health")
    except (OSError, ValueError) as exc:
        return f"/health not answering yet ({http_problem(exc)})"
    missing = model_missing(ready.base_url, ready.served_name)
    if missing:
        return missing
    body = {"model": ready.served_name, "prompt": "ping", "max_tokens": 1}
    try:
        completion = http_json(f"{ready.base_url}/v1/completions", body, timeout=60)
    except (OSError, ValueError) as exc:
        return f"one-token completion failed ({http_problem(exc)})"
    return None if completion.get("choices") else "completion returned no choices"


def model_missing(base_url: str, served_name: str, api_key: str | None = None) -> str | None:
    """None when /v1/models lists served_name, else why not."""
    try:
        models = http_json(f"{base_url}/v1/models", api_key=api_key)
    except (OSError, ValueError) as exc:
        return f"/v1/models not answering ({http_problem(exc)})"
    names = [m.get("id") for m in models.get("data", [])]
    return None if served_name in names else f"/v1/models lists {names}, not '{served_name}'"


def http_problem(exc: Exception) -> str:
    """A short reason for a failed HTTP call: the status code, or the connection error."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = getattr(exc, "reason", None)
    return str(reason or exc)[:120]


def check_running(transport: Transport, node: Node, step: Step, phase: str) -> None:
    """Raise, with the container's last log lines, unless it is running on node."""
    try:
        state = transport.run(node, step.script, PROBE_TIMEOUT)
    except ConnectionFailed as exc:
        raise ConnectionFailed(f"phase {phase} failed on {node.name}: {exc}") from None
    if state.timed_out:
        raise ExecutionError(f"phase {phase} failed on {node.name}: no answer within {PROBE_TIMEOUT:g}s "
                             "while checking the container (node down or cut off?)")
    current = state.facts().get("state")
    if current != "running":
        logs = "\n".join("    " + line[5:] for line in state.stdout.splitlines() if line.startswith("log: "))
        raise ExecutionError(f"phase {phase} failed on {node.name}: container {step.readiness.container} is "
                             f"{current}; its last log lines:\n{logs}")


def wait_until_ready(transport: Transport, nodes: list[Node], step: Step, phase: str,
                     progress: Callable[[str], None]) -> float:
    """Poll until ready; fail fast with the container's last log lines if any watched container stops."""
    ready = step.readiness
    started = time.monotonic()
    last_report = 0.0
    while True:
        for node in nodes:
            check_running(transport, node, step, phase)
        missing = server_answers(ready)
        elapsed = time.monotonic() - started
        if missing is None:
            return elapsed
        if elapsed > ready.deadline:
            raise ExecutionError(f"phase {phase} failed on {nodes[0].name}: not ready after {ready.deadline:g}s: {missing}")
        if elapsed - last_report >= 10:
            progress(f"waiting {elapsed:.0f}s: {missing}")
            last_report = elapsed
        time.sleep(max(0.0, ready.interval - (time.monotonic() - started - elapsed)))
