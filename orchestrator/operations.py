"""Commands that touch nodes: up, down, drop-caches, status, logs."""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from orchestrator import console, planner, proxy, proxykey
from orchestrator.app import Settings, UpRequest, prepare_up, select_nodes
from orchestrator.commands import LABEL
from orchestrator.errors import ConnectionFailed, ExecutionError, SparkctlError, StateConflict
from orchestrator.events import Event
from orchestrator.executor import Executor, Report
from orchestrator.health import server_answers
from orchestrator.inventory import Inventory, Node
from orchestrator.plan import Deployment, Plan, Readiness
from orchestrator.progress import reporter_for
from orchestrator.state import Container, deployments, parse_containers
from orchestrator.templates import render
from orchestrator.transport import SSHTransport

prepare = prepare_up


@dataclass(frozen=True)
class Deadlines:
    """How long `up` waits for Ray membership and for the server, in seconds."""

    ready: float = planner.READY_DEADLINE
    ray: float = planner.GATE_DEADLINE


class Session:
    """One invocation's connections, executor and reporter."""

    def __init__(self, settings: Settings, inventory: Inventory, secrets: dict[str, str] | None = None):
        self.settings, self.inventory = settings, inventory
        self.emit = reporter_for(settings.json)
        self.transport = SSHTransport(inventory, notify=lambda m: self.emit(Event("notice", message=m)))
        self.executor = Executor(self.transport, inventory, self.emit, secrets)

    def run(self, plan: Plan, report: Report | None = None) -> Report:
        """Execute a plan."""
        return self.executor.run(plan, report)

    def containers(self, nodes: tuple[Node, ...]) -> list[Container]:
        """Every sparkctl container on nodes, read live."""
        report = self.run(planner.plan_status(nodes, self.settings.templates_dir))
        return [c for result in report.results["status"] for c in parse_containers(result)]

    @contextlib.contextmanager
    def locked(self, nodes: tuple[Node, ...]) -> Iterator[None]:
        """Hold the cluster lock on every node for the duration; refuse if someone else holds it."""
        owner = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
        script = render("lock", self.settings.templates_dir, owner=owner)
        held = []
        try:
            for node in nodes:
                try:
                    hold = self.transport.hold(node, script, 30)
                except ConnectionFailed as exc:
                    raise ConnectionFailed(f"phase connect failed on {node.name}: {exc}") from None
                held.append(hold)
                if hold.channel is None:
                    raise StateConflict(f"{node.name}: {hold.result.stderr.strip() or 'cannot take the lock'}")
            yield
        finally:
            for hold in held:
                hold.release()

    def close(self) -> None:
        """Close connections and stop progress output."""
        self.transport.close()
        self.emit.close()


@contextlib.contextmanager
def session(settings: Settings, inventory: Inventory, secrets: dict[str, str] | None = None) -> Iterator[Session]:
    """A Session that always closes its connections; SIGTERM behaves like Ctrl-C."""
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() else None
    current = Session(settings, inventory, secrets)
    try:
        yield current
    finally:
        current.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def show_plan(settings: Settings, request: UpRequest, deadlines: Deadlines) -> None:
    """Print the up plan; touches nothing."""
    plan = _up_plan(settings, request, deadlines)
    _warn_findings(request)
    step_secrets = {name for phase in plan.phases for step in phase.steps for name in step.secrets}
    console.print_plan(plan, sorted(step_secrets | set(request.secrets)), settings.json)


def _up_plan(settings: Settings, request: UpRequest, deadlines: Deadlines) -> Plan:
    options = planner.UpOptions(settings.templates_dir, tuple(sorted(request.secrets)),
                                ready_deadline=deadlines.ready, gate_deadline=deadlines.ray)
    return planner.plan_up(request.inventory, request.recipe, request.layout, options)


def _warn_findings(request: UpRequest) -> None:
    for finding in request.findings:
        console.warn(f"{finding.severity.value}: {finding.rule}: {finding.message}")


def up(settings: Settings, request: UpRequest, replace: bool, keep_on_failure: bool, deadlines: Deadlines) -> None:
    """Bring the deployment up, or say it already is; never leave it half up."""
    plan = _up_plan(settings, request, deadlines)
    deployment = plan.deployment
    _warn_findings(request)
    secrets = {**request.secrets, **proxy.secrets_for(deployment)}
    with session(settings, request.inventory, secrets) as current, current.locked(request.layout.nodes):
        live = current.containers(request.layout.nodes)
        if _already_up(deployment, live, plan) and proxy.already_serving(deployment, secrets):
            console.info(f"already up: {deployment.id} at {deployment.endpoint} (nothing changed)")
            return
        _clear_conflicts(current, request.inventory, deployment, live, replace)
        report = _run_or_roll_back(current, plan, keep_on_failure)
    _print_up_summary(deployment, report)
    _warn_model_cache(report, request)


def _already_up(deployment: Deployment, live: list[Container], plan: Plan) -> bool:
    ours = [c for c in live if c.deployment == deployment.id]
    expected = len(deployment.nodes) + proxy.extra_containers(deployment)
    if len(live) != expected or len(ours) != len(live) or not all(c.running for c in ours):
        return False
    readiness = [s.readiness for p in plan.phases for s in p.steps if s.readiness]
    return all(server_answers(r) is None for r in readiness)


def _clear_conflicts(current: Session, inventory: Inventory, deployment: Deployment,
                     live: list[Container], replace: bool) -> None:
    """Refuse (or with --replace, tear down) whatever else runs on these nodes."""
    if not live:
        return
    found = deployments(live)
    described = "; ".join(f"{dep} on {', '.join(sorted({c.node for c in cs}))}" for dep, cs in found.items())
    if not replace:
        raise StateConflict(f"these nodes already run {described}; pass --replace to tear it down and deploy "
                            f"{deployment.id}, or run 'sparkctl down'")
    for dep, containers in found.items():
        names = set(containers[0].labels.get("sparkctl.nodes", "").split(",")) | {c.node for c in containers}
        nodes = tuple(n for n in inventory.nodes if n.name in names)
        current.run(planner.plan_teardown(nodes, dep, current.settings.templates_dir))


def _run_or_roll_back(current: Session, plan: Plan, keep_on_failure: bool) -> Report:
    report = Report()
    try:
        return current.run(plan, report)
    except (SparkctlError, KeyboardInterrupt) as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        if keep_on_failure:
            console.warn(f"up {reason}; --keep-on-failure: containers left as they are for inspection")
        else:
            _roll_back(current, plan.deployment, reason)
        if isinstance(exc, KeyboardInterrupt):
            raise ExecutionError(f"up interrupted; {'kept' if keep_on_failure else 'rolled back'}") from None
        raise


def _roll_back(current: Session, deployment: Deployment, reason: str) -> None:
    nodes = tuple(current.inventory.node(n) for n in deployment.nodes)
    console.warn(f"up {reason}: tearing down what this run started on {', '.join(deployment.nodes)}")
    try:
        current.run(planner.plan_teardown(nodes, deployment.id, current.settings.templates_dir))
        console.warn("rolled back: no container of this deployment is left")
    except SparkctlError as exc:
        console.warn(f"rollback incomplete, run 'sparkctl down': {exc}")


def _warn_model_cache(report: Report, request: UpRequest) -> None:
    """Preflight found the model missing or broken in a node's cache: vLLM downloads it there itself."""
    for node, facts in report.facts("preflight").items():
        if facts.get("model") in ("missing", "dangling"):
            console.warn(f"{node}: model {request.recipe.model} is {facts['model']} in the HF cache (vLLM downloads "
                         f"it on each node itself); sync it once with 'sparkctl models sync {request.recipe.name}' "
                         "or 'up --setup'")


def _print_up_summary(deployment: Deployment, report: Report) -> None:
    timings = ", ".join(f"{phase} {seconds:.1f}s" for phase, seconds in report.seconds.items())
    key = "\nkey: sparkctl status --show-key" if proxy.extra_containers(deployment) else ""
    console.info(f"up: {deployment.id}\nendpoint: {deployment.endpoint} (model '{deployment.served_name}'){key}\n"
                 f"phases: {timings}")


def down(settings: Settings, nodes: str | None) -> None:
    """Remove every sparkctl container on the chosen nodes and verify."""
    inventory = settings.load_inventory()
    targets = select_nodes(inventory, nodes, all_nodes=not nodes)
    with session(settings, inventory) as current, current.locked(targets):
        report = current.run(planner.plan_teardown(targets, None, settings.templates_dir))
    removed = {node: facts.get("removed", "0") for node, facts in report.facts("teardown").items()}
    console.info("down: " + ", ".join(f"{node} removed {count}" for node, count in removed.items()))


def drop_caches(settings: Settings, nodes: str | None, all_nodes: bool) -> None:
    """Drop the page cache on the chosen nodes in parallel."""
    inventory = settings.load_inventory()
    targets = select_nodes(inventory, nodes, all_nodes)
    with session(settings, inventory) as current:
        report = current.run(planner.plan_drop_caches(inventory, targets, settings.templates_dir))
    facts = report.facts("drop-caches")
    if settings.json:
        console.emit_json(facts)
        return
    rows = [[n, _gib(f.get("mem_available_kb_before")), _gib(f.get("mem_available_kb_after"))] for n, f in facts.items()]
    console.table("page cache dropped", ["node", "MemAvailable before", "MemAvailable after"], rows)


def _gib(kb: str | None) -> str:
    return f"{int(kb) / 1048576:.1f} GiB" if kb and kb.isdigit() else "?"


def status(settings: Settings, show_key: bool = False) -> None:
    """Per node: deployment, role, recipe, hash, container state, health, endpoint; or only the proxy key."""
    if show_key:
        console.info(proxykey.load_key(create=False) or f"no proxy key yet; 'up replicas' creates {proxykey.key_path()}")
        return
    inventory = settings.load_inventory()
    with session(settings, inventory) as current:
        live = current.containers(inventory.nodes)
    rows = proxy.with_backends([_status_row(c) for c in live], [c.labels for c in live])
    if settings.json:
        console.emit_json(rows)
    elif not rows:
        console.info("nothing deployed by sparkctl on " + ", ".join(n.name for n in inventory.nodes))
    else:
        console.table("sparkctl status", list(rows[0]), [list(r.values()) for r in rows])


def _status_row(container: Container) -> dict[str, str]:
    labels = container.labels
    serves = labels.get("sparkctl.role") in ("head", "solo", "replica")
    is_proxy = labels.get("sparkctl.role") == proxy.ProxyRole.PROXY
    endpoint = labels.get(proxy.API_LABEL) or labels.get("sparkctl.endpoint", "")
    health = "-"
    if serves and container.running:
        base = endpoint.removesuffix("/v1")
        missing = server_answers(Readiness(base, labels.get("sparkctl.served-name", ""), container.name, 0))
        health = "ready" if missing is None else f"not ready: {missing}"
    elif is_proxy and container.running:
        health = proxy.health(labels)
    return {"node": container.node, "deployment": container.deployment, "role": labels.get("sparkctl.role", ""),
            "recipe": labels.get("sparkctl.recipe", ""), "hash": labels.get("sparkctl.recipe-hash", "")[:12],
            "container": container.state, "health": health,
            "endpoint": endpoint if serves or is_proxy else ""}


def logs(settings: Settings, node_name: str | None, follow: bool, tail: int) -> None:
    """Node-prefixed container logs; Ctrl-C only detaches."""
    inventory = settings.load_inventory()
    nodes = (inventory.node(node_name),) if node_name else inventory.nodes
    options = ["--tail", str(tail)] + (["--follow"] if follow else [])
    script = render("logs", settings.templates_dir, options=options, filter=f"label={LABEL}", go_name="{{.Names}}")
    stop = threading.Event()
    with session(settings, inventory) as current:
        threads = [threading.Thread(target=_print_stream, args=(current, n, script, stop), daemon=True) for n in nodes]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        except KeyboardInterrupt:
            stop.set()
            console.warn("detached; the containers keep running")


def _print_stream(current: Session, node: Node, script: str, stop: threading.Event) -> None:
    try:
        for line in current.transport.stream(node, script, stop):
            console.info(f"{node.name} | {line}")
    except SparkctlError as exc:
        console.warn(f"{node.name} | {exc}")
