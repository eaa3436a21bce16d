"""The LiteLLM proxy in front of `replicas`: its config and its phases in the up plan."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from orchestrator.config.values import url_host
from orchestrator.plan import argv, probes, shell
from orchestrator.plan.data import Deployment, Phase, PhaseKind, Readiness, Step
from orchestrator.plan.templates import render

if TYPE_CHECKING:
    from orchestrator.config.inventory import Inventory, Node


CONTAINER = "sparkctl-proxy"


SECRET = "LITELLM_MASTER_KEY"


CONFIG_HOST = "~/.cache/sparkctl/proxy/litellm.yaml"


CONFIG_MOUNT = "/etc/sparkctl/litellm.yaml"


BACKENDS_LABEL = "sparkctl.backends"


# A replica's own endpoint (the deployment's is the proxy).
API_LABEL = "sparkctl.api"


ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY_DISABLED": "True"}




class ProxyRole(StrEnum):
    """The proxy's `sparkctl.role` label, beside the node roles of topology.Role."""

    PROXY = "proxy"


def proxy_url(inventory: Inventory, node: Node) -> str:
    """The proxy's base URL (without /v1) on node."""
    return f"http://{url_host(node.ip)}:{inventory.defaults.proxy_port}"


def backend_url(node: Node, api_port: int) -> str:
    """A replica's OpenAI base URL."""
    return f"http://{url_host(node.ip)}:{api_port}/v1"


def litellm_config(served_name: str, backends: list[str]) -> dict[str, Any]:
    """One model name routed over every backend; the master key is read from the container's env."""
    params = {"model": f"hosted_vllm/{served_name}", "api_key": f"os.environ/{argv.API_KEY_ENV}"}
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
    api_port: int

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
        backends = [backend_url(n, self.api_port) for n in self.nodes]
        config = json.dumps(litellm_config(self.deployment.served_name, backends), separators=(",", ":"))
        labels = argv.label_options(self.deployment, self.node, ProxyRole.PROXY)
        labels += ["--label", f"{BACKENDS_LABEL}={','.join(backends)}"]
        command = ["--config", CONFIG_MOUNT, "--host", "0.0.0.0", "--port", str(self.inventory.defaults.proxy_port)]
        script = render(
            "proxy_start", self.templates_dir, container=CONTAINER, image=self.image, labels=labels,
            config=config, config_dir=shell.home_path(CONFIG_HOST.rsplit("/", 1)[0]),
            config_path=shell.home_path(CONFIG_HOST), config_mount=":" + CONFIG_MOUNT + ":ro",
            env=argv.env_options(ENV, (SECRET, argv.API_KEY_ENV)), command=command,
        )
        step = Step(self.node.name, f"start the LiteLLM proxy over {len(backends)} replicas", script, 120,
                    secrets=(SECRET, argv.API_KEY_ENV))
        return Phase("proxy", "LiteLLM proxy", (step,))

    def readiness(self) -> Phase:
        """Poll the proxy on its node: /health/readiness, /v1/models with the key, then one completion through it."""
        port, served = self.inventory.defaults.proxy_port, self.deployment.served_name
        ready = Readiness(probes.local_url(port), served, CONTAINER, self.ready_deadline)
        script = probes.server_probe(self.templates_dir, CONTAINER, port, served, probes.LITELLM, key_env=SECRET)
        step = Step(self.node.name, "wait until the proxy answers with the key", script, probes.PROBE_TIMEOUT,
                    secrets=(SECRET,), readiness=ready)
        return Phase("proxy-readiness", "Proxy readiness", (step,), kind=PhaseKind.READINESS)
