"""`logs`: every node's container logs, prefixed with the node; Ctrl-C only detaches."""

from __future__ import annotations

import threading

from orchestrator.config.inventory import Node
from orchestrator.config.settings import Settings
from orchestrator.errors import SparkctlError
from orchestrator.ops.partial import raise_if_partial
from orchestrator.plan.argv import LABEL
from orchestrator.plan.templates import render
from orchestrator.remote.session import Session, session
from orchestrator.report import console


def logs(settings: Settings, node_name: str | None, follow: bool, tail: int) -> None:
    """Node-prefixed container logs; Ctrl-C only detaches."""
    inventory = settings.load_inventory()
    nodes = (inventory.node(node_name),) if node_name else inventory.nodes
    options = ["--tail", str(tail)] + (["--follow"] if follow else [])
    script = render("logs", settings.templates_dir, options=options, filter=f"label={LABEL}", go_name="{{.Names}}")
    stop = threading.Event()
    with session(settings, inventory) as current:
        threads = [threading.Thread(target=_print_stream, args=(current, n, script, stop), daemon=True) for n in nodes]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        except KeyboardInterrupt:
            stop.set()
            console.warn("detached; the containers keep running")
    raise_if_partial("logs", current.unreachable, "their logs are shown once they answer")


def _print_stream(current: Session, node: Node, script: str, stop: threading.Event) -> None:
    try:
        for line in current.transport.stream(node, script, stop):
            console.info(f"{node.name} | {line}")
    except SparkctlError as exc:
        current.unreachable[node.name] = str(exc)
        console.warn(f"{node.name} | {exc}")
