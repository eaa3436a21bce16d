"""A failed `up` keeps its evidence: every node's container logs saved on the workstation before rollback."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config.paths import state_dir
from orchestrator.plan import planner
from orchestrator.plan.data import Deployment
from orchestrator.remote.session import Session


def failure_dir(deployment: Deployment) -> Path:
    """Where a deployment's failure logs go: $XDG_STATE_HOME/sparkctl/failures/<deployment>/."""
    return state_dir() / "failures" / deployment.id


def save_failure_logs(current: Session, deployment: Deployment) -> Path:
    """Write `<node>.log` per node (or why it could not be read) and return the directory."""
    nodes = tuple(current.inventory.node(n) for n in deployment.nodes)
    report = current.run(planner.plan_failure_logs(nodes, deployment.id, current.settings.templates_dir))
    target = failure_dir(deployment)
    target.mkdir(parents=True, exist_ok=True)
    unread = report.failed("failure-logs")
    for result in report.results["failure-logs"]:
        text = f"(could not read this node's logs: {unread[result.node]})\n" if result.node in unread else result.stdout
        (target / f"{result.node}.log").write_text(text)
    return target
