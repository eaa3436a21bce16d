"""`down`: remove every sparkctl container from the chosen nodes and verify; nodes that are down do not stop it."""

from __future__ import annotations

from orchestrator.config.settings import Settings, select_nodes
from orchestrator.ops.partial import raise_if_partial
from orchestrator.plan import planner
from orchestrator.remote.session import session
from orchestrator.report import console


def down(settings: Settings, nodes: str | None) -> None:
    """Remove every sparkctl container on the chosen nodes that answer; name the others (exit 4)."""
    inventory = settings.load_inventory()
    targets = select_nodes(inventory, nodes, all_nodes=not nodes)
    with session(settings, inventory) as current, current.locked(targets, tolerant=True):
        reachable = current.reachable(targets)
        report = current.run(planner.plan_teardown(reachable, None, settings.templates_dir, tolerant=True))
        current.unreachable.update(report.failed("teardown"))
    removed = {node: facts.get("removed", "0") for node, facts in report.facts("teardown").items()}
    if removed:
        console.info("down: " + ", ".join(f"{node} removed {count}" for node, count in removed.items()))
    raise_if_partial("down", current.unreachable, "run 'sparkctl down' again once they answer")
