"""The LiteLLM proxy in front of `replicas`: its config, its phases in the up plan, and its health."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from orchestrator import commands, shell
from orchestrator.errors import ConfigError
from orchestrator.health import http_json, http_problem, model_missing
from orchestrator.plan import Deployment, Phase, Step
from orchestrator.proxykey import load_key
from orchestrator.templates import render
from orchestrator.values import url_host

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory, Node

CONTAINER = "sparkctl-proxy"
SECRET = "LITELLM_MASTER_KEY"
CONFIG_HOST = "~/.cache/sparkctl/proxy/litellm.yaml"
CONFIG_MOUNT = "/etc/sparkctl/litellm.yaml"
BACKENDS_LABEL = "sparkctl.backends"
# A replica's own endpoint (the deployment's is the proxy).
API_LABEL = "sparkctl.api"
ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY_DISABLED": "True"}
# One shot per poll, run inside the proxy container so the key stays in its env, never in argv.
PROBE = (
    'import json, os, sys, urllib.request as u; '
    'u.urlopen(sys.argv[1] + "/health/readiness", timeout=5).read(); '
    'body = json.dumps({"model": sys.argv[2], "messages": [{"role": "user", "content": "ping"}], '
    '"max_tokens": 1}).encode(); '
    'headers = {"Authorization": "Bearer " + os.environ["' + SECRET + '"], "Content-Type": "application/json"}; '
    'reply = json.load(u.urlopen(u.Request(sys.argv[1] + "/v1/chat/completions", body, headers), timeout=60)); '
    'sys.exit(0 if reply.get("choices") else "the completion returned no choices")'
)


class ProxyRole(StrEnum):
    """The proxy's `sparkctl.role` label, beside the node roles of topology.Role."""

    PROXY = "proxy"


def proxy_url(inventory: Inventory, node: Node) -> str:
    """The proxy's base URL (without /v1) on node."""
    return f"http://{url_host(node.ip)}:{inventory.defaults.proxy_port}"


def backend_url(inventory: Inventory, node: Node) -> str:
    """A replica's OpenAI base URL."""
    return f"http://{url_host(node.ip)}:{inventory.defaults.api_port}/v1"


def litellm_config(served_name: str, backends: list[str]) -> dict[str, Any]:
    """One model name routed over every backend; the master key is read from the container's env."""
    params = {"model": f"hosted_vllm/{served_name}", "api_key": "EMPTY"}
    return {
        "model_list": [{"model_name": served_name, "litellm_params": {**params, "api_base": url}} for url in backends],
        "router_settings": {"routing_strategy": "simple-shuffle", "num_retries": 2},
        "general_settings": {"master_key": f"os.environ/{SECRET}"},
    }


@dataclass(frozen=True)
class ProxyPlanner:
    """Renders the proxy's phases of a `replicas` up plan; the proxy runs on the first node."""

    inventory: Inventory
    nodes: tuple[Node, ...]
    deployment: Deployment
    templates_dir: str | None
    ready_deadline: float

    @property
    def node(self) -> Node:
        """The node that runs the proxy."""
        return self.nodes[0]

    @property
    def image(self) -> str:
        """The proxy image."""
        return self.inventory.defaults.proxy_image

    def add_to(self, phases: tuple[Phase, ...]) -> tuple[Phase, ...]:
        """Check the proxy after preflight, start it after serve, and wait for it last."""
        extra = {"preflight": self.preflight(), "serve": self.start()}
        placed = [p for phase in phases for p in (phase, extra.get(phase.name)) if p is not None]
        return (*placed, self.readiness())

    def preflight(self) -> Phase:
        """The proxy image is on its node and the proxy port is free."""
        script = render("proxy_preflight", self.templates_dir, image=self.image,
                        port=self.inventory.defaults.proxy_port)
        step = Step(self.node.name, "check the proxy image and port", script, 60)
        return Phase("proxy-preflight", "Proxy preflight", (step,))

    def start(self) -> Phase:
        """Write the LiteLLM config and start the proxy container, the key given by name only."""
        backends = [backend_url(self.inventory, n) for n in self.nodes]
        config = json.dumps(litellm_config(self.deployment.served_name, backends), separators=(",", ":"))
        labels = commands.label_options(self.deployment, self.node, ProxyRole.PROXY)
        labels += ["--label", f"{BACKENDS_LABEL}={','.join(backends)}"]
        command = ["--config", CONFIG_MOUNT, "--host", "0.0.0.0", "--port", str(self.inventory.defaults.proxy_port)]
        script = render(
            "proxy_start", self.templates_dir, container=CONTAINER, image=self.image, labels=labels,
            config=config, config_dir=shell.home_path(CONFIG_HOST.rsplit("/", 1)[0]),
            config_path=shell.home_path(CONFIG_HOST), config_mount=":" + CONFIG_MOUNT + ":ro",
            env=commands.env_options(ENV, (SECRET,)), command=command,
        )
        step = Step(self.node.name, f"start the LiteLLM proxy over {len(backends)} replicas", script, 120,
                    secrets=(SECRET,))
        return Phase("proxy", "LiteLLM proxy", (step,))

    def readiness(self) -> Phase:
        """Poll /health/readiness, then one completion through the proxy with the key."""
        script = render(
            "proxy_ready", self.templates_dir, container=CONTAINER, probe=PROBE,
            url=proxy_url(self.inventory, self.node), model=self.deployment.served_name,
            deadline=int(self.ready_deadline), go_state="{{.State.Status}}", tail=40,
        )
        step = Step(self.node.name, "wait until the proxy answers with the key", script, self.ready_deadline + 60)
        return Phase("proxy-readiness", "Proxy readiness", (step,))


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
