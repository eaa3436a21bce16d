"""`status`: what runs on each node, read from the containers' labels, with health."""

from __future__ import annotations

from orchestrator.config import keys
from orchestrator.config.settings import Settings
from orchestrator.ops import proxy
from orchestrator.plan.data import Readiness
from orchestrator.plan.proxy import API_LABEL, ProxyRole
from orchestrator.remote.health import server_answers
from orchestrator.remote.session import session
from orchestrator.remote.state import Container
from orchestrator.report import console


def status(settings: Settings, show_key: bool = False) -> None:
    """Per node: deployment, role, recipe, hash, container state, health, endpoint; or only the proxy key."""
    if show_key:
        console.info(keys.load_key(create=False) or f"no proxy key yet; 'up replicas' creates {keys.key_path()}")
        return
    inventory = settings.load_inventory()
    with session(settings, inventory) as current:
        live = current.containers(inventory.nodes)
    rows = proxy.with_backends([_status_row(c) for c in live], [c.labels for c in live])
    if settings.json:
        console.emit_json(rows)
    elif not rows:
        console.info("nothing deployed by sparkctl on " + ", ".join(n.name for n in inventory.nodes))
    else:
        console.table("sparkctl status", list(rows[0]), [list(r.values()) for r in rows])


def _status_row(container: Container) -> dict[str, str]:
    labels = container.labels
    serves = labels.get("sparkctl.role") in ("head", "solo", "replica")
    is_proxy = labels.get("sparkctl.role") == ProxyRole.PROXY
    endpoint = labels.get(API_LABEL) or labels.get("sparkctl.endpoint", "")
    health = "-"
    if serves and container.running:
        base = endpoint.removesuffix("/v1")
        missing = server_answers(Readiness(base, labels.get("sparkctl.served-name", ""), container.name, 0))
        health = "ready" if missing is None else f"not ready: {missing}"
    elif is_proxy and container.running:
        health = proxy.health(labels)
    return {"node": container.node, "deployment": container.deployment, "role": labels.get("sparkctl.role", ""),
            "recipe": labels.get("sparkctl.recipe", ""), "hash": labels.get("sparkctl.recipe-hash", "")[:12],
            "container": container.state, "health": health,
            "endpoint": endpoint if serves or is_proxy else ""}
