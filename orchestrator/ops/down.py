"""`down`: remove every sparkctl container from the chosen nodes and verify."""

from __future__ import annotations

from orchestrator.config.settings import Settings, select_nodes
from orchestrator.plan import planner
from orchestrator.remote.session import session
from orchestrator.report import console


def down(settings: Settings, nodes: str | None) -> None:
    """Remove every sparkctl container on the chosen nodes and verify."""
    inventory = settings.load_inventory()
    targets = select_nodes(inventory, nodes, all_nodes=not nodes)
    with session(settings, inventory) as current, current.locked(targets):
        report = current.run(planner.plan_teardown(targets, None, settings.templates_dir))
    removed = {node: facts.get("removed", "0") for node, facts in report.facts("teardown").items()}
    console.info("down: " + ", ".join(f"{node} removed {count}" for node, count in removed.items()))
