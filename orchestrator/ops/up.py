"""`up` and `plan`: load and lint the request, show or run the plan, never leave a deployment half up."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.config.inventory import Inventory
from orchestrator.config.recipe import Recipe, with_overrides
from orchestrator.config.rules import Finding, errors, lint
from orchestrator.config.settings import Settings, operator_secrets, parse_env, parse_sets, split_nodes
from orchestrator.errors import ExecutionError, LintError, SparkctlError, StateConflict
from orchestrator.ops import proxy
from orchestrator.plan import planner
from orchestrator.plan.data import Deployment, Plan
from orchestrator.plan.show import plan_text, plan_to_dict
from orchestrator.plan.topology import Layout, Topology, assign
from orchestrator.remote.executor import Report
from orchestrator.remote.health import server_answers
from orchestrator.remote.session import Session, session
from orchestrator.remote.state import Container, deployments
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


def prepare_up(settings: Settings, topology: str, recipe_name: str, nodes: str | None,
               sets: tuple[str, ...], env: tuple[str, ...], force: bool) -> UpRequest:
    """Load, override, lint and lay out a recipe; refuse lint errors unless forced."""
    inventory = settings.load_inventory()
    plain_env, secrets = parse_env(env)
    recipe = with_overrides(settings.book().resolve(recipe_name), parse_sets(sets), plain_env)
    findings = lint(recipe)
    if errors(findings) and not force:
        lines = "\n".join(f"  {f.rule}: {f.message}" for f in errors(findings))
        raise LintError(f"recipe '{recipe.name}' ({recipe.source}) breaks rules:\n{lines}\n"
                        "fix the recipe, or pass --force to launch anyway")
    chosen = split_nodes(nodes)
    layout = assign(Topology(topology), recipe, inventory, chosen)
    return UpRequest(Topology(topology), recipe, layout, inventory, {**operator_secrets(), **secrets}, findings)


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
    _warn_findings(request)
    step_secrets = {name for phase in plan.phases for step in phase.steps for name in step.secrets}
    secrets = sorted(step_secrets | set(request.secrets))
    if settings.json:
        console.emit_json(plan_to_dict(plan, secrets))
    else:
        console.info(plan_text(plan, secrets))


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
