"""`status`: what runs on each node, read from the containers' labels, with health probed on the nodes."""

from __future__ import annotations

from orchestrator.config.settings import Settings
from orchestrator.ops import proxy
from orchestrator.ops.credentials import client_key, stored_credentials
from orchestrator.ops.health import SERVING_ROLES, health_by_container
from orchestrator.ops.jobs import print_jobs, read_jobs
from orchestrator.ops.partial import raise_if_partial
from orchestrator.plan.proxy import API_LABEL, ProxyRole
from orchestrator.remote.session import session
from orchestrator.remote.state import Container, leftovers, selected
from orchestrator.report import console
from orchestrator.report.jobs_table import job_rows
from orchestrator.report.tables import Column, Fit

# How each column fits 80 terminal columns; the rest are kept whole.
STATUS_FITS = {"deployment": Fit.LEGEND, "recipe": Fit.WIDE, "hash": Fit.WIDE, "health": Fit.TEXT,
               "endpoint": Fit.LEGEND, "backends": Fit.TEXT}
# Shown under the table, one line per restarted container: as a column it would not fit 80 terminal columns.
BELOW_TABLE = ("restarted",)


def status(settings: Settings, show_key: bool = False, name: str | None = None) -> None:
    """Per node: deployment, role, recipe, hash, container state, health, endpoint; or only the endpoint's key.

    name picks one deployment (a stack's deployment by its name, a whole stack by the stack's name, or an id).
    """
    inventory = settings.load_inventory()
    secrets = stored_credentials()
    with session(settings, inventory, secrets) as current:
        live = selected(current.containers(inventory.nodes, tolerant=not show_key), name)
        if show_key:
            console.info(client_key(live))
            return
        health = health_by_container(current, live, set(secrets))
        node_jobs = job_rows(read_jobs(current, tuple(n for n in inventory.nodes if n.name not in current.unreachable)))
    broken = leftovers(live, set(current.unreachable))
    rows = proxy.with_backends([_status_row(c, health, c.deployment in broken) for c in live], [c.labels for c in live])
    rows += [_unreachable_row(node, why) for node, why in current.unreachable.items()]
    if settings.json:
        console.emit_json(rows)
    elif not rows:
        console.info("nothing deployed by sparkctl on " + ", ".join(n.name for n in inventory.nodes))
    else:
        print_table(rows)
    if node_jobs and not settings.json:
        print_jobs(node_jobs)
    raise_if_partial("status", current.unreachable, "their containers are unknown until they answer")


def print_table(rows: list[dict[str, str]]) -> None:
    """The status rows as a table, then which containers docker restarted and when."""
    keys = [key for key in rows[0] if key not in BELOW_TABLE]
    columns = [Column(key, STATUS_FITS.get(key, Fit.KEEP)) for key in keys]
    console.table("sparkctl status", columns, [[r[k] for k in keys] for r in rows])
    for row in rows:
        if row.get("restarted"):
            console.info(f"restarted: {row['node']} {row['role']} at {row['restarted']}")



def _unreachable_row(node: str, why: str) -> dict[str, str]:
    first = why.splitlines()[0] if why else "no answer"
    return {"node": node, "deployment": "", "role": "", "recipe": "", "hash": "", "container": "unreachable",
            "restarted": "", "health": first, "endpoint": "", "backends": ""}


def _restarted(container: Container) -> str:
    """When docker last started the container again by itself (and how often its policy did), or ''."""
    when = container.restarted
    if not when:
        return ""
    shown = f"{when[:10]} {when[11:19]} UTC" if len(when) >= 19 else when
    return f"{shown} (restarts: {container.restarts})" if container.restarts else shown


def _status_row(container: Container, health: dict[tuple[str, str], str], leftover: bool) -> dict[str, str]:
    labels = container.labels
    shown_health = health.get((container.node, container.name), "-")
    if container.coming_back:
        shown_health = "restarting: docker starts it again (restart policy)"
    elif leftover and shown_health in ("-", "ready"):
        shown_health = "leftover: the rest of its deployment is gone; 'sparkctl down' (or the next up) removes it"
    shown = labels.get("sparkctl.role") in (*SERVING_ROLES, ProxyRole.PROXY)
    endpoint = labels.get(API_LABEL) or labels.get("sparkctl.endpoint", "")
    return {"node": container.node, "deployment": container.deployment, "role": labels.get("sparkctl.role", ""),
            "recipe": labels.get("sparkctl.recipe", ""), "hash": labels.get("sparkctl.recipe-hash", "")[:12],
            "container": container.state, "restarted": _restarted(container), "health": shown_health,
            "endpoint": endpoint if shown else ""}
