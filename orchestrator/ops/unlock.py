"""`unlock NODE`: name the holder of a node's cluster lock and clear it when its sparkctl is gone for good."""

from __future__ import annotations

from orchestrator.config.settings import Settings
from orchestrator.plan.data import Phase, Plan, Step
from orchestrator.plan.templates import render
from orchestrator.remote.session import session
from orchestrator.report import console


def unlock(settings: Settings, node_name: str) -> None:
    """End whatever holds the lock on the node (a session cut off by a partition keeps it until TCP gives up)."""
    inventory = settings.load_inventory()
    node = inventory.node(node_name)
    step = Step(node.name, "clear the cluster lock", render("unlock", settings.templates_dir), 30)
    with session(settings, inventory) as current:
        facts = current.run(Plan("unlock", (Phase("unlock", "Unlock", (step,)),))).facts("unlock")[node.name]
    if facts.get("cleared") == "none":
        console.info(f"{node.name}: no sparkctl holds the lock")
    else:
        console.info(f"{node.name}: cleared the lock held by {facts.get('holder', 'unknown')}")
