"""Live state read from the nodes: sparkctl's containers and their labels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from orchestrator.config.inventory import Inventory, Node
from orchestrator.errors import ConfigError
from orchestrator.plan.argv import LABEL, NAME_LABEL, STACK_LABEL
from orchestrator.remote.transport import Result


@dataclass(frozen=True)
class Container:
    """One sparkctl container as docker reports it."""

    node: str
    name: str
    state: str
    labels: dict[str, str]
    restarts: int = 0
    started: str = ""
    finished: str = ""

    @property
    def deployment(self) -> str:
        """The deployment id label."""
        return self.labels.get(LABEL, "")

    @property
    def running(self) -> bool:
        """Whether docker says it is running."""
        return self.state == "running"

    @property
    def restarted(self) -> str:
        """When docker last started the container again (restart policy, or its engine back after a reboot), else ''."""
        # RestartCount counts only the policy's restarts; a start after a reboot leaves only a finish time behind.
        if not self.restarts and (not self.finished or self.finished.startswith("0001-")):
            return ""
        return self.started

    @property
    def coming_back(self) -> bool:
        """Whether docker is about to start it again (its restart policy's back-off): down, but not gone."""
        return self.state == "restarting"


def parse_containers(result: Result) -> list[Container]:
    """Containers from a status probe (one JSON object per line)."""
    containers = []
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            containers.append(Container(result.node, row["name"].lstrip("/"), row["state"], row["labels"] or {},
                                        int(row.get("restarts") or 0), row.get("started") or "",
                                        row.get("finished") or ""))
    return containers


def deployments(containers: list[Container]) -> dict[str, list[Container]]:
    """Containers grouped by deployment id."""
    grouped: dict[str, list[Container]] = {}
    for container in containers:
        grouped.setdefault(container.deployment, []).append(container)
    return grouped


def leftovers(containers: list[Container], unknown: set[str] = frozenset()) -> set[str]:
    """Deployments that can no longer serve: a container stopped, or a node it was made for has none of it.

    Nodes in `unknown` (unreachable) may still hold their part, so they do not make a deployment a leftover.
    """
    broken = set()
    for deployment, members in deployments(containers).items():
        expected = set(filter(None, members[0].labels.get("sparkctl.nodes", "").split(",")))
        missing = expected - {c.node for c in members} - set(unknown)
        if missing or not all(c.running or c.coming_back for c in members):
            broken.add(deployment)
    return broken


def selected(containers: list[Container], name: str | None) -> list[Container]:
    """The containers of the deployments a name picks: a stack's deployment name, a stack's name, or an id."""
    if not name:
        return containers
    picked = [c for c in containers if name in (c.labels.get(NAME_LABEL), c.labels.get(STACK_LABEL), c.deployment)]
    if not picked:
        known = sorted({c.labels.get(NAME_LABEL) or c.deployment for c in containers})
        raise ConfigError(f"no deployment or stack named '{name}' runs" +
                          (f"; running: {', '.join(known)}" if known else ""))
    return picked


def entry_point(live: list[Container], inventory: Inventory, name: str | None = None) -> tuple[Node, int, Container]:
    """Where clients reach the running deployment (the one name picks): its endpoint's node and port, its container."""
    running = [c for c in selected(live, name) if c.running and c.labels.get("sparkctl.endpoint")]
    if not running:
        raise ConfigError("no deployment is running; start one with 'sparkctl up ...'")
    if len({c.deployment for c in running}) > 1:
        found = ", ".join(sorted({c.deployment for c in running}))
        raise ConfigError(f"several deployments are running ({found}); name one (a stack's deployment by its name), "
                          "or run 'sparkctl down' on all but one")
    endpoint = urlsplit(running[0].labels["sparkctl.endpoint"])
    node = next((n for n in inventory.nodes if n.ip == endpoint.hostname), None)
    if node is None or endpoint.port is None:
        raise ConfigError(f"the endpoint {endpoint.geturl()} is on no node of this inventory")
    serving = next((c for c in running if c.node == node.name), running[0])
    return node, endpoint.port, serving
