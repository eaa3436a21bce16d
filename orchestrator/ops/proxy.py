"""The replicas proxy at run time: its key as a secret, its container count, its backends in `status`."""

from __future__ import annotations

from orchestrator.plan.data import Deployment
from orchestrator.plan.proxy import BACKENDS_LABEL, ProxyRole


def backends_health(container_labels: dict[str, str], health_by_url: dict[str, str]) -> str:
    """Each backend of a proxy with the health its replica row reported."""
    backends = [b for b in container_labels.get(BACKENDS_LABEL, "").split(",") if b]
    return ", ".join(f"{url} {health_by_url.get(url, 'unknown')}" for url in backends)


def extra_containers(deployment: Deployment) -> int:
    """Containers a deployment runs beyond one per node: the proxy of `replicas`."""
    return 1 if deployment.topology == "replicas" else 0


def with_backends(rows: list[dict[str, str]], labels: list[dict[str, str]]) -> list[dict[str, str]]:
    """Status rows with a `backends` column: for a proxy, each backend and its replica's health."""
    by_url = {row["endpoint"]: row["health"] for row in rows if row["role"] != ProxyRole.PROXY}
    return [{**row, "backends": backends_health(lab, by_url) if row["role"] == ProxyRole.PROXY else ""}
            for row, lab in zip(rows, labels, strict=True)]
