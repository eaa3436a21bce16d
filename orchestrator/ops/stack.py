"""`apply`, `diff` and `down --stack`: converge the nodes to a stack file, each deployment through `up`'s own path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config import keys
from orchestrator.config.inventory import Inventory, Node, checked_path
from orchestrator.config.rules import errors, lint
from orchestrator.config.settings import Settings, operator_secrets
from orchestrator.config.stack import DEFAULT_STACK, Stack, entry_recipe, load_stack
from orchestrator.errors import ConfigError, Interrupted, LintError, SparkctlError, StateConflict, Terminated, TopologyError
from orchestrator.ops.credentials import credentials
from orchestrator.ops.health import run_probes, verdict
from orchestrator.ops.partial import raise_if_partial
from orchestrator.ops.stackdiff import Action, Change, Member, check_beside_other_stacks, diff, diff_text, foreign
from orchestrator.ops.up import Deadlines, UpRequest, up_locked
from orchestrator.plan import planner
from orchestrator.plan.data import Plan
from orchestrator.plan.placement import Want, place
from orchestrator.plan.proxy import SECRET
from orchestrator.plan.show import plan_text
from orchestrator.plan.stackproxy import PROXY_NAME, plan_stack_proxy, routes
from orchestrator.plan.topology import Topology
from orchestrator.remote.readiness import Depth
from orchestrator.remote.session import Session, session
from orchestrator.remote.state import Container, deployments
from orchestrator.report import console


class ApplyFailed(SparkctlError):
    """One deployment of an apply failed (and was rolled back); the message says which entries were applied."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class StackRequest:
    """A stack file loaded, linted, placed and planned: nothing has touched a node yet."""

    stack: Stack
    inventory: Inventory
    members: tuple[Member, ...]


def stack_path(argument: str | None, option: str | None) -> Path:
    """The stack file: the argument, --stack, or ./stack.yaml."""
    if argument and option and argument != option:
        raise ConfigError(f"two stack files given ({argument} and --stack {option}); pass one")
    raw = argument or option or DEFAULT_STACK
    path = checked_path(raw, "stack file")
    if not path.is_file():
        hint = "" if argument or option else " (pass a stack file, or --stack FILE)"
        raise ConfigError(f"{raw}: stack file not found{hint}")
    return path


def prepare_stack(settings: Settings, path: Path, force: bool, deadlines: Deadlines) -> StackRequest:
    """Load the stack, resolve and lint each entry's recipe, place them all and plan each one's up."""
    stack = load_stack(path)
    inventory = settings.load_inventory()
    book = settings.book()
    wants, findings = [], {}
    for index, entry in enumerate(stack.entries):
        recipe = entry_recipe(stack, index, book)
        findings[entry.name] = lint(recipe)
        if errors(findings[entry.name]) and not force:
            lines = "\n".join(f"  {f.rule}: {f.message}" for f in errors(findings[entry.name]))
            raise LintError(f"{stack.source}: deployment '{entry.name}': recipe '{recipe.name}' breaks rules:\n{lines}\n"
                            "fix the recipe or the entry's set:, or pass --force to launch anyway")
        wants.append(Want(entry.name, recipe, Topology(entry.topology), entry.nodes, entry.port, entry.backend))
    proxy_at = _proxy_place(stack, inventory)
    try:
        placed = place(inventory, wants, ((proxy_at[0].name, proxy_at[1], "the stack's proxy"),) if proxy_at else ())
    except TopologyError as exc:
        raise TopologyError(f"{stack.source}: {exc}") from None
    secrets = operator_secrets()
    members = []
    for item in placed:
        request = UpRequest(item.want.topology, item.recipe, item.layout, item.inventory, secrets,
                            findings[item.want.name], item.want.backend, item.want.name, stack.name)
        options = planner.UpOptions(settings.templates_dir, tuple(sorted(secrets)), ready_deadline=deadlines.ready,
                                    gate_deadline=deadlines.ray, backend=item.want.backend, name=item.want.name,
                                    stack=stack.name)
        plan = planner.plan_up(item.inventory, item.recipe, item.layout, options)
        members.append(Member(item.want.name, plan, request))
    if proxy_at:
        members.append(_proxy_member(settings, stack, inventory, proxy_at, placed, members, deadlines))
    return StackRequest(stack, inventory, tuple(members))


def _proxy_place(stack: Stack, inventory: Inventory) -> tuple[Node, int] | None:
    """The node and port of the stack's proxy, when it has one (default: the first node, the inventory's proxy_port)."""
    wanted = stack.parsed.proxy
    if wanted is None:
        return None
    try:
        node = inventory.node(wanted.node) if wanted.node else inventory.nodes[0]
    except ConfigError as exc:
        raise stack.doc.error(("proxy", "node"), str(exc)) from None
    return node, wanted.port or inventory.defaults.proxy_port


def _proxy_member(settings: Settings, stack: Stack, inventory: Inventory, proxy_at: tuple[Node, int],
                  placed: list, members: list[Member], deadlines: Deadlines) -> Member:
    """The stack's proxy as a member: it routes each served model name to its deployment."""
    names = [m.deployment.served_name for m in members]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise stack.doc.error(("proxy",), f"two deployments serve the model name {', '.join(twice)}; the proxy routes "
                                          "by model name: give one a served_name of its own")
    routed = routes([(m.deployment, p.layout, planner.api_port(p.recipe, p.inventory))
                     for m, p in zip(members, placed, strict=True)])
    plan = plan_stack_proxy(inventory, proxy_at[0], proxy_at[1], stack.name, routed, settings.templates_dir,
                            deadlines.ready)
    return Member(PROXY_NAME, plan)


def show_diff(settings: Settings, request: StackRequest, commands: bool = False) -> None:
    """`sparkctl diff`: read the nodes and print what apply would change (with commands: every step); changes nothing."""
    secrets = _secrets(request)
    with session(settings, request.inventory, secrets) as current:
        changes = _changes(current, request)
    if settings.json:
        console.emit_json(_as_data(request, changes))
        return
    _print_diff(request, changes)
    for change in changes:
        if commands and change.member is not None and change.action in (Action.CREATE, Action.REPLACE):
            console.info(f"\n# --- {change.action.value} {change.name}\n" + plan_text(change.member.plan, sorted(secrets)))


def apply(settings: Settings, request: StackRequest, yes: bool, keep_on_failure: bool,
          confirm: Callable[[str], bool] | None = None) -> None:
    """Converge the nodes to the stack: removals, then replacements, then creations, each through up's path."""
    with session(settings, request.inventory, _secrets(request)) as current, current.locked(request.inventory.nodes):
        changes = _changes(current, request)
        todo = [c for c in changes if c.action is not Action.UNCHANGED]
        if not settings.json:
            _print_diff(request, changes)
        if todo and not yes and not (confirm and confirm(f"apply these {len(todo)} change(s)?")):
            if settings.json:
                console.emit_json(_as_data(request, changes, applied=[]))
            raise ConfigError("nothing applied: pass --yes to carry out the changes above")
        _carry_out(current, todo, keep_on_failure)
    if settings.json:
        console.emit_json(_as_data(request, changes, applied=[c.name for c in todo]))
    elif not todo:
        console.info(f"stack {request.stack.name} is up to date: {len(changes)} deployment(s) unchanged, nothing to do")
    else:
        console.info(f"applied stack {request.stack.name}: " + ", ".join(f"{c.name} {c.action.value}d" for c in todo))


def _secrets(request: StackRequest) -> dict[str, str]:
    found = dict(operator_secrets())
    for member in request.members:
        if member.request is None:
            found[SECRET] = keys.load_key(kind=keys.PROXY)
        else:
            found.update(credentials(member.deployment, member.request.inventory))
    return found


def _changes(current: Session, request: StackRequest) -> list[Change]:
    """The diff against the live labels; a deployment that runs but does not answer is replaced."""
    live = current.containers(request.inventory.nodes)
    members = list(request.members)
    blocking = foreign(members, live)
    if blocking:
        described = "; ".join(f"{dep} on {', '.join(sorted({c.node for c in cs}))}" for dep, cs in blocking.items())
        raise StateConflict(f"nodes of stack {request.stack.name} run {described}, started by 'sparkctl up'; a stack "
                            "shares nodes only with its own deployments: remove it with 'sparkctl down --nodes NODE'")
    check_beside_other_stacks(members, request.stack.name, live, request.inventory)
    changes = diff(members, request.stack.name, live)
    return _with_health(current, changes)


def _with_health(current: Session, changes: list[Change]) -> list[Change]:
    """Unchanged deployments are probed (/health, /v1/models); one that does not answer is to be replaced."""
    steps = {c.name: tuple(s for p in c.member.plan.phases for s in p.steps if s.readiness)
             for c in changes if c.action is Action.UNCHANGED}
    flat = tuple(s for group in steps.values() for s in group)
    results = iter(run_probes(current, flat))
    healthy = []
    for change in changes:
        problems = [verdict(next(results), s.readiness.container, s.readiness.served_name, Depth.MODELS)
                    for s in steps.get(change.name, ())] if change.action is Action.UNCHANGED else []
        problem = next((p for p in problems if p), None)
        if problem:
            change = Change(Action.REPLACE, change.name, change.member, change.running, f"not answering: {problem}")
        healthy.append(change)
    return sorted(healthy, key=lambda c: list(Action).index(c.action))


def _print_diff(request: StackRequest, changes: list[Change]) -> None:
    console.info(diff_text(request.stack.name, str(request.stack.source), request.stack.content_hash, changes))


def _as_data(request: StackRequest, changes: list[Change], applied: list[str] | None = None) -> dict:
    """The diff (and, after an apply, what it carried out) as one JSON document."""
    data = {"stack": request.stack.name, "source": str(request.stack.source), "hash": request.stack.content_hash,
            "changes": [c.as_row() for c in changes]}
    return data if applied is None else {**data, "applied": applied}


def _carry_out(current: Session, todo: list[Change], keep_on_failure: bool) -> None:
    """Each change in order; a failure stops the apply, its own deployment rolled back, the others as they are."""
    done: list[str] = []
    # The proxy starts last: its readiness asks a completion through it of a deployment this apply may create.
    todo = sorted(todo, key=lambda c: c.action is not Action.REMOVE and c.name == PROXY_NAME)
    for index, change in enumerate(todo):
        try:
            if change.running:
                _remove(current, change.running)
            if change.member is not None and change.member.request is None:
                _start_proxy(current, change.member.plan)
            elif change.member is not None:
                for finding in change.member.request.findings:
                    console.warn(f"{change.name}: {finding.severity.value}: {finding.rule}: {finding.message}")
                up_locked(current, change.member.request, change.member.plan, replace=False,
                          keep_on_failure=keep_on_failure)
        except SparkctlError as exc:
            rest = [f"{c.name} ({c.action.value})" for c in todo[index + 1:]]
            raise ApplyFailed(f"apply stopped at '{change.name}' ({change.action.value}): {exc}\n"
                              f"applied: {', '.join(done) or 'nothing'}; not attempted: {', '.join(rest) or 'nothing'}",
                              exc.exit_code) from None
        done.append(f"{change.name} ({change.action.value}d)")
        if not current.settings.json:
            console.info(f"{change.action.value}d {change.name}" +
                         (f": {change.member.deployment.endpoint}" if change.member else ""))


def _start_proxy(current: Session, plan: Plan) -> None:
    """Start the stack's proxy; if it does not come up, remove it again."""
    try:
        current.run(plan)
    except (SparkctlError, KeyboardInterrupt) as exc:
        nodes = tuple(current.inventory.node(n) for n in plan.deployment.nodes)
        current.run(planner.plan_teardown(nodes, plan.deployment.id, current.settings.templates_dir, tolerant=True))
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted("apply interrupted; the proxy it was starting is removed",
                              terminated=isinstance(exc, Terminated)) from None
        raise


def _remove(current: Session, running: tuple[Container, ...]) -> None:
    """Tear down what runs of a deployment (every id it has, on every node its labels name)."""
    for deployment_id, containers in deployments(list(running)).items():
        names = set(containers[0].labels.get("sparkctl.nodes", "").split(",")) | {c.node for c in containers}
        nodes = tuple(n for n in current.inventory.nodes if n.name in names)
        current.run(planner.plan_teardown(nodes, deployment_id, current.settings.templates_dir))


def down_stack(settings: Settings, path: Path) -> None:
    """Remove every deployment of the stack from the nodes that answer; name the others (exit 4)."""
    stack = load_stack(path)
    inventory = settings.load_inventory()
    with session(settings, inventory) as current, current.locked(inventory.nodes, tolerant=True):
        live = current.containers(current.reachable(inventory.nodes), tolerant=True)
        ours = [c for c in live if c.labels.get("sparkctl.stack") == stack.name]
        for deployment_id, containers in deployments(ours).items():
            nodes = current.reachable(tuple(n for n in inventory.nodes if n.name in {c.node for c in containers}))
            report = current.run(planner.plan_teardown(nodes, deployment_id, settings.templates_dir, tolerant=True))
            current.unreachable.update(report.failed("teardown"))
    names = sorted({c.labels.get("sparkctl.name", "") for c in ours})
    console.info(f"down: stack {stack.name}: " + (f"removed {', '.join(names)}" if names else "nothing of it runs"))
    raise_if_partial("down", current.unreachable, "run 'sparkctl down --stack' again once they answer")
