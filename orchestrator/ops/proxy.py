"""The replicas proxy at run time: its key as a secret, whether it serves, its health in `status`."""

from __future__ import annotations

from orchestrator.config.keys import load_key
from orchestrator.errors import ConfigError
from orchestrator.plan.data import Deployment
from orchestrator.plan.proxy import BACKENDS_LABEL, SECRET, ProxyRole
from orchestrator.remote.health import http_json, http_problem, model_missing


def proxy_answers(base_url: str, served_name: str, key: str | None) -> str | None:
    """None when the proxy is ready and (with the key) lists the model, else what is missing."""
    try:
        http_json(f"{base_url}/health/readiness")
    except (OSError, ValueError) as exc:
        return f"proxy not answering ({http_problem(exc)})"
    return None if key is None else model_missing(base_url, served_name, key)


def backends_health(container_labels: dict[str, str], health_by_url: dict[str, str]) -> str:
    """Each backend of a proxy with the health its replica row reported."""
    backends = [b for b in container_labels.get(BACKENDS_LABEL, "").split(",") if b]
    return ", ".join(f"{url} {health_by_url.get(url, 'unknown')}" for url in backends)


def secrets_for(deployment: Deployment) -> dict[str, str]:
    """The proxy's key as a secret for `up replicas` (created on first use); nothing for other topologies."""
    return {SECRET: load_key()} if deployment.topology == "replicas" else {}


def extra_containers(deployment: Deployment) -> int:
    """Containers a deployment runs beyond one per node: the proxy of `replicas`."""
    return 1 if deployment.topology == "replicas" else 0


def already_serving(deployment: Deployment, secrets: dict[str, str]) -> bool:
    """Whether a live deployment's proxy (if it has one) answers with this key."""
    if not extra_containers(deployment):
        return True
    base = deployment.endpoint.removesuffix("/v1")
    return proxy_answers(base, deployment.served_name, secrets.get(SECRET)) is None


def health(labels: dict[str, str]) -> str:
    """A running proxy's health for `status`, checked with the stored key when there is one."""
    try:
        key = load_key(create=False)
    except ConfigError:
        key = None
    base = labels.get("sparkctl.endpoint", "").removesuffix("/v1")
    missing = proxy_answers(base, labels.get("sparkctl.served-name", ""), key)
    return "ready" if missing is None else f"not ready: {missing}"


def with_backends(rows: list[dict[str, str]], labels: list[dict[str, str]]) -> list[dict[str, str]]:
    """Status rows with a `backends` column: for a proxy, each backend and its replica's health."""
    by_url = {row["endpoint"]: row["health"] for row in rows if row["role"] != ProxyRole.PROXY}
    return [{**row, "backends": backends_health(lab, by_url) if row["role"] == ProxyRole.PROXY else ""}
            for row, lab in zip(rows, labels, strict=True)]
