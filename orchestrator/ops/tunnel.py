"""`tunnel`: the running deployment's endpoint on this workstation, through the SSH connection to its node."""

from __future__ import annotations

import threading

from orchestrator.config.settings import Settings
from orchestrator.remote.session import session
from orchestrator.remote.state import entry_point
from orchestrator.report import console


def tunnel(settings: Settings, local_port: int, seconds: float | None = None, name: str | None = None) -> None:
    """Forward local_port (0: any free one) to the endpoint (of the deployment name picks) until Ctrl-C (or seconds)."""
    inventory = settings.load_inventory()
    with session(settings, inventory) as current:
        node, port, serving = entry_point(current.containers(inventory.nodes), inventory, name)
        with current.transport.forward(node, port, local_port) as local:
            console.info(f"http://127.0.0.1:{local}/v1 -> {node.name} 127.0.0.1:{port} ({serving.deployment}); "
                         "Ctrl-C closes the tunnel")
            try:
                threading.Event().wait(seconds)
            except KeyboardInterrupt:
                console.warn("tunnel closed")
