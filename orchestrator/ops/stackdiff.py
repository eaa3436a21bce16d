"""What `apply` would change: the stack's deployments against what the nodes' labels say runs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from orchestrator.config.inventory import Inventory
from orchestrator.ops import proxy
from orchestrator.ops.health import SERVING_ROLES, served_port
from orchestrator.ops.up import UpRequest
from orchestrator.plan.argv import MEMORY_LABEL, NAME_LABEL, STACK_LABEL, memory_share
from orchestrator.plan.data import Deployment, Plan
from orchestrator.plan.placement import PlacementError
from orchestrator.plan.planner import api_port
from orchestrator.plan.topology import Role, Topology
from orchestrator.remote.state import Container, deployments


class Action(StrEnum):
    """What happens to one deployment of the stack."""

    REMOVE = "remove"
    REPLACE = "replace"
    CREATE = "create"
    UNCHANGED = "unchanged"


SIGNS = {Action.REMOVE: "-", Action.REPLACE: "~", Action.CREATE: "+", Action.UNCHANGED: "="}


@dataclass(frozen=True)
class Member:
    """One deployment of the stack, placed and planned: what `up` would run for it (no request: the stack's proxy)."""

    name: str
    plan: Plan
    request: UpRequest | None = None

    @property
    def deployment(self) -> Deployment:
        """Its identity (the id changes with its recipe, nodes, ports or inventory)."""
        return self.plan.deployment


@dataclass(frozen=True)
class Change:
    """One line of the diff: a deployment, what happens to it and why; `running` is what runs of it now."""

    action: Action
    name: str
    member: Member | None = None
    running: tuple[Container, ...] = ()
    why: str = ""

    def as_row(self) -> dict[str, str]:
        """The change as data (for --json and the text form)."""
        if self.member is not None:
            d = self.member.deployment
            where = {"recipe": d.recipe, "topology": d.topology, "nodes": ",".join(d.nodes), "endpoint": d.endpoint}
        else:
            labels = self.running[0].labels
            where = {"recipe": labels.get("sparkctl.recipe", ""), "topology": labels.get("sparkctl.topology", ""),
                     "nodes": labels.get("sparkctl.nodes", ""), "endpoint": labels.get("sparkctl.endpoint", "")}
        return {"action": self.action.value, "name": self.name, **where, "why": self.why}


def diff(members: list[Member], stack: str, live: list[Container]) -> list[Change]:
    """Removals, then replacements, then creations, then what stays; in stack order within each."""
    ours: dict[str, list[Container]] = {}
    for container in live:
        if container.labels.get(STACK_LABEL) == stack and container.labels.get(NAME_LABEL):
            ours.setdefault(container.labels[NAME_LABEL], []).append(container)
    changes = [_change(m, tuple(ours.pop(m.name, []))) for m in members]
    removals = [Change(Action.REMOVE, name, None, tuple(cs), "no longer in the stack") for name, cs in ours.items()]
    return sorted(removals + changes, key=lambda c: list(Action).index(c.action))


def _change(member: Member, running: tuple[Container, ...]) -> Change:
    if not running:
        return Change(Action.CREATE, member.name, member)
    wanted = member.deployment
    ids = {c.deployment for c in running}
    if ids != {wanted.id}:
        hashes = {c.labels.get("sparkctl.recipe-hash", "") for c in running}
        endpoints = {c.labels.get("sparkctl.endpoint", "") for c in running}
        if endpoints != {wanted.endpoint}:
            why = f"endpoint moves ({', '.join(sorted(endpoints))} -> {wanted.endpoint})"
        elif hashes != {wanted.recipe_hash}:
            old = ", ".join(sorted(h[:12] for h in hashes))
            why = f"recipe changed ({old} -> {wanted.recipe_hash[:12]})"
        else:
            why = "nodes, ports or inventory changed"
        return Change(Action.REPLACE, member.name, member, running, why)
    expected = len(wanted.nodes) + proxy.extra_containers(wanted)
    up = [c for c in running if c.running]
    if len(up) != expected:
        return Change(Action.REPLACE, member.name, member, running, f"{len(up)} of {expected} containers running")
    return Change(Action.UNCHANGED, member.name, member, running)


def foreign(members: list[Member], live: list[Container]) -> dict[str, list[Container]]:
    """Deployments of plain `up`s on nodes the stack uses: a stack does not share nodes with them."""
    used = {n for m in members for n in m.deployment.nodes}
    return deployments([c for c in live if not c.labels.get(NAME_LABEL) and c.node in used])


def check_beside_other_stacks(members: list[Member], stack: str, live: list[Container], inventory: Inventory) -> None:
    """Other stacks' deployments on this stack's nodes keep their memory and ports: refuse what does not fit beside them."""
    others = [c for c in live if c.labels.get(STACK_LABEL) not in (None, "", stack) and c.labels.get(NAME_LABEL)]
    for node in inventory.nodes:
        here = [c for c in others if c.node == node.name]
        ours = [(m.name, memory_share(m.request.recipe)) for m in members
                if m.request is not None and node.name in m.deployment.nodes]
        theirs = {f"{c.labels[STACK_LABEL]}/{c.labels[NAME_LABEL]}": float(c.labels[MEMORY_LABEL])
                  for c in here if MEMORY_LABEL in c.labels}
        total = sum(theirs.values()) + sum(share for _, share in ours)
        if ours and theirs and total > inventory.memory_budget_of(node) + 1e-9:
            terms = " + ".join(f"{share:.2f} ({name})" for name, share in [*theirs.items(), *ours])
            raise PlacementError(f"node {node.name} also runs another stack's deployments: {terms} = {total:.2f}, over "
                                 f"its memory budget of {inventory.memory_budget_of(node):.2f}; move this stack's "
                                 "deployments elsewhere (nodes:) or lower their memory:")
        taken = {served_port(c.labels): c for c in here if c.labels.get("sparkctl.role") in (*SERVING_ROLES, "proxy")}
        for name, port in _ports_on(members, node.name):
            if port in taken:
                holder = taken[port].labels
                raise PlacementError(f"port {port} on {node.name} is taken by '{holder[NAME_LABEL]}' of stack "
                                     f"'{holder[STACK_LABEL]}'; give '{name}' another port:")


def _ports_on(members: list[Member], node: str) -> list[tuple[str, int]]:
    """The ports this stack's deployments listen on at node."""
    found = []
    for member in members:
        request = member.request
        if request is None:
            if member.deployment.nodes == (node,):
                found.append((member.name, urlsplit(member.deployment.endpoint).port))
            continue
        serving = [a.node.name for a in request.layout.assignments if a.role is not Role.WORKER]
        if node in serving:
            found.append((member.name, api_port(request.recipe, request.inventory)))
        if request.layout.topology is Topology.REPLICAS and node == request.layout.entry.name:
            found.append((member.name, request.inventory.defaults.proxy_port))
    return found


def diff_text(stack: str, source: str, stack_hash: str, changes: list[Change]) -> str:
    """The diff as `plan` would show it: one line per deployment."""
    lines = [f"# stack {stack} ({source}, {stack_hash[:12]})"]
    width = max(len(c.name) for c in changes) if changes else 0
    for change in changes:
        row = change.as_row()
        why = f"  ({change.why})" if change.why else ""
        lines.append(f"{SIGNS[change.action]} {change.action.value:<9} {change.name:<{width}}  {row['topology']} "
                     f"{row['recipe']} on {row['nodes']}  {row['endpoint']}{why}")
    return "\n".join(lines)
