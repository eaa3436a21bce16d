"""Health of what runs, for `status` and `up`: the node-side server probe, run once per serving container."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from orchestrator.plan import probes
from orchestrator.plan.argv import API_KEY_ENV
from orchestrator.plan.data import Phase, Plan, Step
from orchestrator.plan.proxy import API_LABEL, SECRET, ProxyRole
from orchestrator.remote.executor import FAILED
from orchestrator.remote.readiness import Depth, probe_shortfall, stopped_container
from orchestrator.remote.session import Session
from orchestrator.remote.state import Container
from orchestrator.remote.transport import Result

SERVING_ROLES = ("head", "solo", "replica")
# `status` waits this long for the one token: a healthy server answers in well under a second.
TOKEN_DEADLINE = 10


@dataclass(frozen=True)
class Probe:
    """One probe of one container: the step that asks and how deep its answer must go."""

    container: Container
    step: Step
    depth: Depth


def served_port(labels: dict[str, str]) -> int | None:
    """The port a serving container answers on, from its labels."""
    return urlsplit(labels.get(API_LABEL) or labels.get("sparkctl.endpoint", "")).port


def container_probe(container: Container, templates_dir: str | None, known: set[str]) -> Probe | None:
    """The health probe of a running serving container (vLLM or the proxy), or None for other containers.

    known: the key names this workstation holds; without the key a server is only asked /health.
    """
    role, port = container.labels.get("sparkctl.role"), served_port(container.labels)
    if not container.running or port is None or role not in (*SERVING_ROLES, ProxyRole.PROXY):
        return None
    served = container.labels.get("sparkctl.served-name", "")
    kind, key = (probes.LITELLM, SECRET) if role == ProxyRole.PROXY else (probes.VLLM, API_KEY_ENV)
    key = key if key in known else ""
    script = probes.server_probe(templates_dir, container.name, port, served, kind, key_env=key,
                                 completion_deadline=TOKEN_DEADLINE)
    step = Step(container.node, f"probe {container.name}", script, probes.PROBE_TIMEOUT, secrets=(key,) if key else ())
    return Probe(container, step, Depth.TOKEN if key else Depth.HEALTH)


def run_probes(current: Session, steps: tuple[Step, ...]) -> list[Result]:
    """Every probe once, all nodes in parallel, results in the order of steps."""
    if not steps:
        return []
    return current.run(Plan("probe", (Phase("probe", "Health", steps, tolerant=True),))).results["probe"]


def verdict(result: Result, container: str, served_name: str, depth: Depth) -> str | None:
    """None when the probe saw a healthy server, else what is wrong."""
    if result.exit_code == FAILED:
        return f"could not probe: {result.stderr.splitlines()[0] if result.stderr else 'no answer'}"
    return stopped_container(result, container) or probe_shortfall(result.facts(), served_name, depth)


def stalled(result: Result) -> bool:
    """/health and /v1/models answer, yet the one-token completion timed out: the server is up but stuck."""
    facts = result.facts()
    return (facts.get("health_code") == "200" and facts.get("models_code") == "200"
            and facts.get("completion_code") in ("", "000") and "(28)" in facts.get("completion_body", ""))


def health_by_container(current: Session, containers: list[Container], known: set[str]) -> dict[tuple[str, str], str]:
    """`ready` or `not ready: why` for each running serving container, keyed by (node, container)."""
    found = [p for c in containers if (p := container_probe(c, current.settings.templates_dir, known))]
    results = run_probes(current, tuple(p.step for p in found))
    health = {}
    for probe, result in zip(found, results, strict=True):
        served = probe.container.labels.get("sparkctl.served-name", "")
        problem = verdict(result, probe.container.name, served, probe.depth)
        shown = "ready" if problem is None else f"not ready: {problem}"
        if problem is not None and stalled(result):
            shown = f"stalled: /health answers but no token within {TOKEN_DEADLINE}s"
        health[(probe.container.node, probe.container.name)] = shown
    return health
