"""`up` and `plan`: load and lint the request, show or run the plan, never leave a deployment half up."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from orchestrator.config.inventory import Inventory
from orchestrator.config.recipe import Recipe, with_overrides
from orchestrator.config.rules import Finding, errors, lint
from orchestrator.config.settings import Settings, operator_secrets, parse_env, parse_sets, split_nodes
from orchestrator.errors import (
    ConfigError,
    ExecutionError,
    Interrupted,
    LintError,
    SparkctlError,
    StateConflict,
    Terminated,
)
from orchestrator.ops import jobs, proxy
from orchestrator.ops.credentials import credentials
from orchestrator.ops.failures import save_failure_logs
from orchestrator.ops.health import run_probes, verdict
from orchestrator.ops.preflight import RANK_FLAGS, check_image_flags, check_model_cache, unread_env
from orchestrator.plan import jobs as job_plans
from orchestrator.plan import planner
from orchestrator.plan.argv import NAME_LABEL, STACK_LABEL
from orchestrator.plan.data import Deployment, Plan
from orchestrator.plan.show import plan_text, plan_to_dict
from orchestrator.plan.topology import Layout, Topology, assign
from orchestrator.remote.executor import Report
from orchestrator.remote.readiness import Depth
from orchestrator.remote.session import Session, session
from orchestrator.remote.state import Container, deployments, leftovers
from orchestrator.report import console


@dataclass(frozen=True)
class UpRequest:
    """An `up`/`plan` invocation after parsing."""

    topology: Topology
    recipe: Recipe
    layout: Layout
    inventory: Inventory
    secrets: dict[str, str]
    findings: list[Finding]
    backend: str | None = None
    # A stack's deployment: its name and its stack's (see plan.planner.UpOptions).
    name: str = ""
    stack: str = ""


def prepare_up(settings: Settings, topology: str, recipe_name: str, nodes: str | None,
               sets: tuple[str, ...], env: tuple[str, ...], force: bool, backend: str | None = None) -> UpRequest:
    """Load, override, lint and lay out a recipe; refuse lint errors unless forced."""
    if backend and topology != "cluster":
        raise ConfigError(f"--backend {backend} is for 'up cluster' (ray or mp); {topology} runs one server per node")
    inventory = settings.load_inventory()
    plain_env, secrets = parse_env(env)
    recipe = with_overrides(settings.book().resolve(recipe_name, topology), parse_sets(sets), plain_env)
    findings = lint(recipe)
    if errors(findings) and not force:
        lines = "\n".join(f"  {f.rule}: {f.message}" for f in errors(findings))
        raise LintError(f"recipe '{recipe.name}' ({recipe.source}) breaks rules:\n{lines}\n"
                        "fix the recipe, or pass --force to launch anyway")
    chosen = split_nodes(nodes)
    layout = assign(Topology(topology), recipe, inventory, chosen)
    return UpRequest(Topology(topology), recipe, layout, inventory, {**operator_secrets(), **secrets}, findings, backend)


@dataclass(frozen=True)
class Deadlines:
    """How long `up` waits for Ray membership and for the server, in seconds."""

    ready: float = planner.READY_DEADLINE
    ray: float = planner.GATE_DEADLINE


def show_plan(settings: Settings, request: UpRequest, deadlines: Deadlines, setup: Plan | None = None) -> None:
    """Print the up plan, after the setup phases when given; touches nothing."""
    plan = _up_plan(settings, request, deadlines)
    if setup is not None:
        plan = Plan(plan.action, setup.phases + plan.phases, plan.deployment)
    plan = _with_guard(settings, request, plan)
    _warn_findings(request)
    step_secrets = {name for phase in plan.phases for step in phase.steps for name in step.secrets}
    secrets = sorted(step_secrets | set(request.secrets))
    if settings.json:
        console.emit_json(plan_to_dict(plan, secrets))
    else:
        console.info(plan_text(plan, secrets))


def _up_plan(settings: Settings, request: UpRequest, deadlines: Deadlines) -> Plan:
    options = planner.UpOptions(settings.templates_dir, tuple(sorted(request.secrets)),
                                ready_deadline=deadlines.ready, gate_deadline=deadlines.ray, backend=request.backend,
                                name=request.name, stack=request.stack)
    return planner.plan_up(request.inventory, request.recipe, request.layout, options)


def _warn_sockets(request: UpRequest) -> None:
    """A cluster whose NCCL cannot use RDMA still runs, over TCP sockets, several times slower: say so up front."""
    if request.topology is not Topology.CLUSTER:
        return
    if request.inventory.defaults.rdma == "off":
        console.warn("warning: rdma is off in the inventory: NCCL talks over TCP sockets between the Sparks "
                     "(decode several times slower than over RoCE)")
        return
    without = [n.name for n in request.layout.nodes if not n.rdma_devices]
    if without:
        console.warn(f"warning: no rdma_dev for {', '.join(without)} in the inventory: NCCL falls back to TCP sockets "
                     "(much slower); 'sparkctl doctor' lists the active RoCE devices")


def _warn_findings(request: UpRequest) -> None:
    _warn_sockets(request)
    for note in request.recipe.notes:
        if ": mapped: " not in note and ": format: " not in note:
            console.warn(f"note: {note}")
    for finding in request.findings:
        console.warn(f"{finding.severity.value}: {finding.rule}: {finding.message}")


def up(settings: Settings, request: UpRequest, replace: bool, keep_on_failure: bool, deadlines: Deadlines) -> None:
    """Bring the deployment up, or say it already is; never leave it half up."""
    plan = _up_plan(settings, request, deadlines)
    deployment = plan.deployment
    _warn_findings(request)
    secrets = {**request.secrets, **credentials(deployment, request.inventory)}
    with session(settings, request.inventory, secrets) as current, current.locked(request.layout.nodes):
        report = up_locked(current, request, plan, replace, keep_on_failure)
    if report is not None:
        _print_up_summary(deployment, report)


def up_locked(current: Session, request: UpRequest, plan: Plan, replace: bool, keep_on_failure: bool) -> Report | None:
    """Inside a session that holds the nodes' lock: run the plan unless it already runs (then None)."""
    deployment = plan.deployment
    live = _sharing(current.containers(request.layout.nodes), deployment)
    if _already_up(current, deployment, live, plan):
        console.info(f"already up: {deployment.id} at {deployment.endpoint} (nothing changed)")
        return None
    if deployment.name:
        _clear_own(current, request.inventory, deployment, live)
    else:
        _clear_conflicts(current, request.inventory, deployment, live, replace)
    report = _run_or_roll_back(current, plan, request.recipe, keep_on_failure)
    _install_guard(current, request)
    return report


def _sharing(live: list[Container], deployment: Deployment) -> list[Container]:
    """What a deployment must reckon with on its nodes: everything for a plain up; for a stack's deployment
    its own earlier containers and those of plain ups, never the other deployments of a stack."""
    if not deployment.name:
        return live
    return [c for c in live if not c.labels.get(NAME_LABEL)
            or (c.labels.get(NAME_LABEL), c.labels.get(STACK_LABEL)) == (deployment.name, deployment.stack)]


def _clear_own(current: Session, inventory: Inventory, deployment: Deployment, live: list[Container]) -> None:
    """A stack's deployment replaces its own earlier containers; a plain up's on its nodes is refused."""
    unread = {n.name for n in inventory.nodes} - set(deployment.nodes)
    broken = leftovers([c for c in live if not c.labels.get(NAME_LABEL)], unread)
    _remove_leftovers(current, inventory, [c for c in live if c.deployment in broken], broken)
    foreign = deployments([c for c in live if not c.labels.get(NAME_LABEL) and c.deployment not in broken])
    if foreign:
        described = "; ".join(f"{dep} on {', '.join(sorted({c.node for c in cs}))}" for dep, cs in foreign.items())
        raise StateConflict(f"these nodes run {described}, started by 'sparkctl up'; a stack shares nodes only with "
                            f"its own deployments: remove it with 'sparkctl down --nodes NODE' first")
    for dep, containers in deployments([c for c in live if c.labels.get(NAME_LABEL)]).items():
        _tear_down(current, inventory, dep, containers)


def _with_guard(settings: Settings, request: UpRequest, plan: Plan) -> Plan:
    """The dry run shows the recipe's guard install last, as up runs it."""
    if request.recipe.guard is None:
        return plan
    guard = job_plans.plan_job_on(request.layout.nodes, job_plans.GUARD, job_plans.guard_conf(request.recipe.guard),
                                  settings.templates_dir)
    return Plan(plan.action, plan.phases + guard.phases, plan.deployment)


def _install_guard(current: Session, request: UpRequest) -> None:
    """The recipe's page-cache guard on every node of the deployment, once it serves."""
    if request.recipe.guard is None:
        return
    try:
        facts = jobs.install(current, request.layout.nodes, request.recipe.guard)
    except SparkctlError as exc:
        raise ExecutionError(f"the deployment is up, but the recipe's guard could not be installed: {exc}\n"
                             "    fix the node, then run 'sparkctl guard on' (or 'sparkctl down')") from None
    console.info("page-cache guard on: " + ", ".join(f"{node} ({f.get('scheduler', '?')})" for node, f in facts.items()))


def _already_up(current: Session, deployment: Deployment, live: list[Container], plan: Plan) -> bool:
    """Every container of this deployment runs and each server answers /health and lists its model.

    No completion is asked for: a saturated but healthy server is still up.
    """
    ours = [c for c in live if c.deployment == deployment.id]
    expected = len(deployment.nodes) + proxy.extra_containers(deployment)
    if len(live) != expected or len(ours) != len(live) or not all(c.running for c in ours):
        return False
    probes = tuple(s for p in plan.phases for s in p.steps if s.readiness)
    results = run_probes(current, probes)
    return all(verdict(r, s.readiness.container, s.readiness.served_name, Depth.MODELS) is None
               for r, s in zip(results, probes, strict=True))


def _clear_conflicts(current: Session, inventory: Inventory, deployment: Deployment,
                     live: list[Container], replace: bool) -> None:
    """Refuse (or with --replace, tear down) whatever else runs on these nodes."""
    if not live:
        return
    # Only the deployment's nodes were read: what runs elsewhere is unknown, not missing.
    unread = {n.name for n in inventory.nodes} - set(deployment.nodes)
    broken = leftovers(live, unread)
    _remove_leftovers(current, inventory, live, broken)
    live = [c for c in live if c.deployment not in broken]
    if not live:
        return
    found = deployments(live)
    described = "; ".join(f"{dep} on {', '.join(sorted({c.node for c in cs}))}" for dep, cs in found.items())
    if not replace:
        raise StateConflict(f"these nodes already run {described}; pass --replace to tear it down and deploy "
                            f"{deployment.id}, or run 'sparkctl down'")
    for dep, containers in found.items():
        _tear_down(current, inventory, dep, containers)


def _tear_down(current: Session, inventory: Inventory, deployment_id: str, containers: list[Container]) -> None:
    names = set(containers[0].labels.get("sparkctl.nodes", "").split(",")) | {c.node for c in containers}
    nodes = tuple(n for n in inventory.nodes if n.name in names)
    current.run(planner.plan_teardown(nodes, deployment_id, current.settings.templates_dir))


def _remove_leftovers(current: Session, inventory: Inventory, live: list[Container], broken: set[str]) -> None:
    """What a broken deployment left (a node cut during its up, a crash) serves nobody: remove it unasked."""
    for dep, containers in deployments(live).items():
        if dep in broken:
            where = ", ".join(sorted({c.node for c in containers}))
            console.warn(f"removing leftovers of {dep} on {where} (that deployment can no longer serve)")
            _tear_down(current, inventory, dep, containers)


def _checked_run(current: Session, plan: Plan, recipe: Recipe, report: Report) -> Report:
    """Preflight first; what it learned about the image is checked before anything else runs."""
    current.run(Plan(plan.action, plan.phases[:1], plan.deployment), report)
    check_model_cache(report, recipe)
    check_image_flags(report, recipe, RANK_FLAGS if plan.deployment.backend == "mp" else ())
    for name in unread_env(report, recipe):
        console.warn(f"warning: recipe '{recipe.name}' sets {name}, which the vLLM in image {recipe.container} does not "
                     "read (it has no effect there); remove it, or use the flag that replaced it")
    return current.run(Plan(plan.action, plan.phases[1:], plan.deployment), report)


def _run_or_roll_back(current: Session, plan: Plan, recipe: Recipe, keep_on_failure: bool) -> Report:
    report = Report()
    try:
        return _checked_run(current, plan, recipe, report)
    except (SparkctlError, KeyboardInterrupt) as exc:
        if "drop-caches" not in report.seconds:
            raise  # nothing started yet: nothing to save or roll back
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        _keep_evidence(current, plan.deployment)
        if keep_on_failure:
            console.warn(f"up {reason}; --keep-on-failure: containers left as they are for inspection")
        else:
            _roll_back(current, plan.deployment, reason)
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(f"up interrupted; {'kept' if keep_on_failure else 'rolled back'}",
                              terminated=isinstance(exc, Terminated)) from None
        raise


def _keep_evidence(current: Session, deployment: Deployment) -> None:
    """Save the containers' last logs locally before rollback deletes them; never mask the failure itself."""
    try:
        console.warn(f"the containers' last log lines are saved in {save_failure_logs(current, deployment)}")
    except (SparkctlError, OSError) as exc:
        console.warn(f"could not save the containers' logs: {exc}")


def _roll_back(current: Session, deployment: Deployment, reason: str) -> None:
    nodes = tuple(current.inventory.node(n) for n in deployment.nodes)
    console.warn(f"up {reason}: tearing down what this run started on {', '.join(deployment.nodes)}")
    try:
        with _confirmed_interrupts():
            # Tolerant: a lost node must not stop the removal on the nodes that answer.
            report = current.run(planner.plan_teardown(nodes, deployment.id, current.settings.templates_dir,
                                                       tolerant=True))
        missed = report.failed("teardown")
        if missed:
            console.warn(f"rollback incomplete on {', '.join(missed)} (unreachable); run 'sparkctl down' once it answers")
        else:
            console.warn("rolled back: no container of this deployment is left")
    except (SparkctlError, KeyboardInterrupt) as exc:
        console.warn(f"rollback incomplete, run 'sparkctl down': {exc or 'abandoned (Ctrl-C twice)'}")


@contextlib.contextmanager
def _confirmed_interrupts(window: float = 2.0) -> Iterator[None]:
    """During rollback one Ctrl-C only warns (half-removed containers are worse); a second within `window` abandons."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    last = [0.0]

    def on_interrupt(_signum, _frame):
        if time.monotonic() - last[0] < window:
            raise KeyboardInterrupt
        last[0] = time.monotonic()
        console.warn(f"rolling back; press Ctrl-C again within {window:g} s to abandon it (then run 'sparkctl down')")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_up_summary(deployment: Deployment, report: Report) -> None:
    timings = ", ".join(f"{phase} {seconds:.1f}s" for phase, seconds in report.seconds.items())
    key = "\nkey: sparkctl status --show-key" if proxy.extra_containers(deployment) else ""
    console.info(f"up: {deployment.id}\nendpoint: {deployment.endpoint} (model '{deployment.served_name}'){key}\n"
                 f"phases: {timings}")
