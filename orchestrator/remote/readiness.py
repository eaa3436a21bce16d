"""Readiness, read from probes that run on the nodes: container running, /health, /v1/models lists the name, a token."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import IntEnum

from orchestrator.config.inventory import Node
from orchestrator.errors import Cancelled, ConnectionFailed, ExecutionError
from orchestrator.plan.data import Step
from orchestrator.plan.probes import PROBE_TIMEOUT
from orchestrator.remote.transport import Result, Transport

PROGRESS_EVERY = 10.0


class Depth(IntEnum):
    """How far a probe's answers must go: health only, the model listed, or a token produced."""

    HEALTH = 1
    MODELS = 2
    TOKEN = 3


def probe_shortfall(facts: dict[str, str], served_name: str, depth: Depth = Depth.TOKEN) -> str | None:
    """None when a server probe saw the server ready to `depth`, else what is still missing."""
    if facts.get("health_code") != "200":
        return f"/health not answering yet ({_problem(facts, 'health')})"
    if depth is Depth.HEALTH:
        return None
    if facts.get("models_code") != "200":
        return f"/v1/models not answering ({_problem(facts, 'models')})"
    names = _model_names(facts.get("models_body", ""))
    if served_name not in names:
        return f"/v1/models lists {names}, not '{served_name}'"
    if depth is Depth.MODELS:
        return None
    if facts.get("completion_code") != "200":
        return f"one-token completion failed ({_problem(facts, 'completion')})"
    return None if _json(facts.get("completion_body", "")).get("choices") else "completion returned no choices"


def _problem(facts: dict[str, str], name: str) -> str:
    code = facts.get(f"{name}_code", "")
    if code in ("", "000"):
        return facts.get(f"{name}_body", "").removeprefix("curl: ")[:120] or "no answer"
    return f"HTTP {code}"


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _model_names(body: str) -> list:
    data = _json(body).get("data")
    return [m.get("id") for m in data if isinstance(m, dict)] if isinstance(data, list) else []


def stopped_container(result: Result, container: str) -> str | None:
    """Why the probed container is not running, with its last log lines; None while it runs."""
    state = result.facts().get("state")
    if state == "running":
        return None
    logs = "\n".join("    " + line[5:] for line in result.stdout.splitlines() if line.startswith("log: "))
    return f"container {container} is {state}; its last log lines:\n{logs}"


def probe(transport: Transport, node: Node, script: str, phase: str, secrets: dict[str, str] | None = None,
          cancel: threading.Event | None = None) -> Result:
    """Run one probe on node; a node that does not answer in time is a failure of the phase."""
    try:
        result = transport.run(node, script, PROBE_TIMEOUT, secrets, cancel=cancel)
    except ConnectionFailed as exc:
        raise ConnectionFailed(f"phase {phase} failed on {node.name}: {exc}") from None
    if result.timed_out or not result.ok:
        reason = f"no answer within {PROBE_TIMEOUT:g}s" if result.timed_out else f"the probe exited {result.exit_code}"
        raise ExecutionError(f"phase {phase} failed on {node.name}: {reason} while checking the server "
                             f"(node down or cut off?)\n    {result.stderr.strip()[-400:]}")
    return result


def wait_until_ready(transport: Transport, nodes: list[Node], step: Step, phase: str,
                     progress: Callable[[str], None], secrets: dict[str, str] | None = None,
                     cancel: threading.Event | None = None) -> float:
    """Poll the node-side probe until ready; fail fast with the last log lines if a watched container stops."""
    ready, (serving, *watched) = step.readiness, nodes
    cancel = cancel or threading.Event()
    started = last_report = time.monotonic()
    # One round probes every node at once: with 8 Sparks, one after the other would add up to seconds per round.
    pool = ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix=f"probe {phase}")
    try:
        while True:
            calls = [(serving, step.script, secrets)] + [(node, ready.watch_script, None) for node in watched]
            futures = [pool.submit(probe, transport, node, script, phase, env, cancel) for node, script, env in calls]
            results = [future.result() for future in futures]
            for (node, _script, _env), result in zip(calls, results, strict=True):
                _raise_if_stopped(result, node, ready.container, phase)
            missing = probe_shortfall(results[0].facts(), ready.served_name)
            now = time.monotonic()
            if missing is None:
                return now - started
            if now - started > ready.deadline:
                raise ExecutionError(f"phase {phase} failed on {serving.name}: not ready after {ready.deadline:g}s: "
                                     f"{missing}")
            if now - last_report >= PROGRESS_EVERY:
                progress(f"waiting {now - started:.0f}s: {missing}")
                last_report = now
            if cancel.wait(max(0.0, ready.interval - (time.monotonic() - now))):
                raise Cancelled(f"phase {phase} on {serving.name}: cancelled")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a failure is reported now; the other probes are bounded


def _raise_if_stopped(result: Result, node: Node, container: str, phase: str) -> None:
    why = stopped_container(result, container)
    if why:
        raise ExecutionError(f"phase {phase} failed on {node.name}: {why}")
