"""`drop-caches`: drop the page cache on nodes in parallel, MemAvailable before and after; nodes that are down
are reported, the others dropped."""

from __future__ import annotations

from orchestrator.config.settings import Settings, select_nodes
from orchestrator.ops.partial import raise_if_partial
from orchestrator.plan import planner
from orchestrator.remote.session import session
from orchestrator.report import console


def drop_caches(settings: Settings, nodes: str | None, all_nodes: bool) -> None:
    """Drop the page cache on the chosen nodes in parallel."""
    inventory = settings.load_inventory()
    targets = select_nodes(inventory, nodes, all_nodes)
    with session(settings, inventory) as current:
        report = current.run(planner.plan_drop_caches(inventory, targets, settings.templates_dir, tolerant=True))
    facts, failed = report.facts("drop-caches"), report.failed("drop-caches")
    if settings.json:
        console.emit_json({**facts, **{node: {"error": why} for node, why in failed.items()}})
    else:
        print_table(facts, failed)
    raise_if_partial("drop-caches", failed, "drop their caches once they answer")


def print_table(facts: dict[str, dict[str, str]], failed: dict[str, str] | None = None) -> None:
    """MemAvailable before and after, per node; nodes that did not answer say so."""
    rows = [[n, _gib(f.get("mem_available_kb_before")), _gib(f.get("mem_available_kb_after"))] for n, f in facts.items()]
    rows += [[n, "unreachable", ""] for n in failed or {}]
    console.table("page cache dropped", ["node", "MemAvailable before", "MemAvailable after"], rows)


def _gib(kb: str | None) -> str:
    return f"{int(kb) / 1048576:.1f} GiB" if kb and kb.isdigit() else "?"
