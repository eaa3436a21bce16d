"""`status`: what runs on each node, read from the containers' labels, with health probed on the nodes."""

from __future__ import annotations

from orchestrator.config import keys
from orchestrator.config.settings import Settings
from orchestrator.errors import ConfigError
from orchestrator.ops import proxy
from orchestrator.ops.credentials import stored_credentials
from orchestrator.ops.health import SERVING_ROLES, health_by_container
from orchestrator.plan.proxy import API_LABEL, ProxyRole
from orchestrator.remote.session import session
from orchestrator.remote.state import Container
from orchestrator.report import console
from orchestrator.report.tables import Column, Fit

# How each column fits 80 terminal columns; the rest are kept whole.
STATUS_FITS = {"deployment": Fit.LEGEND, "recipe": Fit.WIDE, "hash": Fit.WIDE, "health": Fit.TEXT,
               "endpoint": Fit.LEGEND, "backends": Fit.TEXT}


def status(settings: Settings, show_key: bool = False) -> None:
    """Per node: deployment, role, recipe, hash, container state, health, endpoint; or only the endpoint's key."""
    inventory = settings.load_inventory()
    secrets = stored_credentials()
    with session(settings, inventory, secrets) as current:
        live = current.containers(inventory.nodes)
        if show_key:
            console.info(_endpoint_key(live))
            return
        health = health_by_container(current, live, set(secrets))
    rows = proxy.with_backends([_status_row(c, health) for c in live], [c.labels for c in live])
    if settings.json:
        console.emit_json(rows)
    elif not rows:
        console.info("nothing deployed by sparkctl on " + ", ".join(n.name for n in inventory.nodes))
    else:
        print_table(rows)


def print_table(rows: list[dict[str, str]]) -> None:
    """The status rows as a table."""
    columns = [Column(key, STATUS_FITS.get(key, Fit.KEEP)) for key in rows[0]]
    console.table("sparkctl status", columns, [list(r.values()) for r in rows])


def _endpoint_key(live: list[Container]) -> str:
    """The key clients send to what runs: the proxy's in front of replicas, else vLLM's API key."""
    proxied = any(c.labels.get("sparkctl.role") == ProxyRole.PROXY for c in live)
    kind = keys.PROXY if proxied else keys.API
    key = keys.load_key(create=False, kind=kind)
    if not key:
        raise ConfigError(f"no {kind.what} on this workstation ({kind.path()}); 'sparkctl up' creates it, "
                          f"or set ${kind.env} to the one the deployment was started with")
    return key


def _status_row(container: Container, health: dict[tuple[str, str], str]) -> dict[str, str]:
    labels = container.labels
    shown = labels.get("sparkctl.role") in (*SERVING_ROLES, ProxyRole.PROXY)
    endpoint = labels.get(API_LABEL) or labels.get("sparkctl.endpoint", "")
    return {"node": container.node, "deployment": container.deployment, "role": labels.get("sparkctl.role", ""),
            "recipe": labels.get("sparkctl.recipe", ""), "hash": labels.get("sparkctl.recipe-hash", "")[:12],
            "container": container.state, "health": health.get((container.node, container.name), "-"),
            "endpoint": endpoint if shown else ""}
