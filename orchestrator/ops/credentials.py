"""The credentials a deployment runs with, as secrets sent on SSH stdin: vLLM's API key, the proxy's, Ray's token."""

from __future__ import annotations

from orchestrator.config import keys
from orchestrator.config.inventory import Inventory
from orchestrator.errors import ConfigError
from orchestrator.plan.argv import API_KEY_ENV, RAY_TOKEN_ENV
from orchestrator.plan.data import Deployment
from orchestrator.plan.proxy import SECRET, ProxyRole
from orchestrator.remote.state import Container


def credentials(deployment: Deployment, inventory: Inventory) -> dict[str, str]:
    """What `up` needs, created on first use: the API key always, the proxy's for replicas, Ray's for clusters."""
    found = {API_KEY_ENV: keys.load_key(kind=keys.API)}
    if deployment.topology == "replicas":
        found[SECRET] = keys.load_key(kind=keys.PROXY)
    if deployment.topology == "cluster" and inventory.defaults.ray_auth == "token":
        found[RAY_TOKEN_ENV] = keys.load_key(kind=keys.RAY)
    return found


def stored_credentials() -> dict[str, str]:
    """The API and proxy keys this workstation holds, for commands that only talk to running servers."""
    found = {}
    for name, kind in ((API_KEY_ENV, keys.API), (SECRET, keys.PROXY)):
        try:
            key = keys.load_key(create=False, kind=kind)
        except ConfigError:
            key = None
        if key:
            found[name] = key
    return found


def client_key(live: list[Container]) -> str:
    """The key clients send to what runs: the proxy's in front of replicas, else vLLM's API key."""
    proxied = any(c.labels.get("sparkctl.role") == ProxyRole.PROXY for c in live)
    kind = keys.PROXY if proxied else keys.API
    key = keys.load_key(create=False, kind=kind)
    if not key:
        raise ConfigError(f"no {kind.what} on this workstation ({kind.path()}); 'sparkctl up' creates it, "
                          f"or set ${kind.env} to the one the deployment was started with")
    return key
