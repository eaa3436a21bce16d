"""Live state read from the nodes: sparkctl's containers and their labels."""

from __future__ import annotations

import json
from dataclasses import dataclass

from orchestrator.plan.argv import LABEL
from orchestrator.remote.transport import Result


@dataclass(frozen=True)
class Container:
    """One sparkctl container as docker reports it."""

    node: str
    name: str
    state: str
    labels: dict[str, str]

    @property
    def deployment(self) -> str:
        """The deployment id label."""
        return self.labels.get(LABEL, "")

    @property
    def running(self) -> bool:
        """Whether docker says it is running."""
        return self.state == "running"


def parse_containers(result: Result) -> list[Container]:
    """Containers from a status probe (one JSON object per line)."""
    containers = []
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            containers.append(Container(result.node, row["name"].lstrip("/"), row["state"], row["labels"] or {}))
    return containers


def deployments(containers: list[Container]) -> dict[str, list[Container]]:
    """Containers grouped by deployment id."""
    grouped: dict[str, list[Container]] = {}
    for container in containers:
        grouped.setdefault(container.deployment, []).append(container)
    return grouped
