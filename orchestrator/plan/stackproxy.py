"""One endpoint for a whole stack: a LiteLLM proxy that routes each model name to its own deployment."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from orchestrator.config.values import url_host
from orchestrator.plan import argv, probes, shell
from orchestrator.plan.data import Deployment, Phase, PhaseKind, Plan, Readiness, Step
from orchestrator.plan.planner import restart_policy_phase
from orchestrator.plan.proxy import BACKENDS_LABEL, CONFIG_MOUNT, ENV, SECRET, ProxyRole, backend_url
from orchestrator.plan.templates import render
from orchestrator.plan.topology import Layout, Role, Topology

if TYPE_CHECKING:
    from orchestrator.config.inventory import Inventory, Node

# No stack entry can be called this (names start with a letter or a digit), so it never shadows one.
PROXY_NAME = "_proxy"


def routes(members: list[tuple[Deployment, Layout, int]]) -> dict[str, list[str]]:
    """Each served model name and the OpenAI base URLs that serve it (every replica of a `replicas` deployment)."""
    found: dict[str, list[str]] = {}
    for deployment, layout, api_port in members:
        if layout.topology is Topology.REPLICAS:
            urls = [backend_url(a.node, api_port) for a in layout.assignments if a.role is Role.REPLICA]
        else:
            urls = [deployment.endpoint]
        found.setdefault(deployment.served_name, []).extend(urls)
    return found


def litellm_config(routed: dict[str, list[str]]) -> dict[str, Any]:
    """Every model name routed to its own backends; vLLM's key and the master key are read from the env."""
    params = {"api_key": f"os.environ/{argv.API_KEY_ENV}"}
    models = [{"model_name": name, "litellm_params": {**params, "model": f"hosted_vllm/{name}", "api_base": url}}
              for name, urls in routed.items() for url in urls]
    return {"model_list": models, "router_settings": {"routing_strategy": "simple-shuffle", "num_retries": 2},
            "general_settings": {"master_key": f"os.environ/{SECRET}"}}


def plan_stack_proxy(inventory: Inventory, node: Node, port: int, stack: str, routed: dict[str, list[str]],
                     templates_dir: str | None = None, ready_deadline: float = 600.0) -> Plan:
    """Check, start and wait for the stack's proxy on node; its id changes with its routes, image or port."""
    config = json.dumps(litellm_config(routed), separators=(",", ":"), sort_keys=True)
    image = inventory.defaults.proxy_image
    digest = hashlib.sha256(json.dumps([config, image, port, node.name, node.ip]).encode()).hexdigest()
    first = next(iter(routed))
    deployment = Deployment(id=f"{stack}.proxy.{digest[:8]}", recipe="litellm", recipe_hash=digest, topology="proxy",
                            nodes=(node.name,), endpoint=f"http://{url_host(node.ip)}:{port}/v1", served_name=first,
                            name=PROXY_NAME, stack=stack)
    container = f"sparkctl-proxy-{stack}"
    return Plan("up", (_preflight(node, image, port, templates_dir),
                       _start(node, deployment, container, image, port, config, routed, templates_dir),
                       _readiness(node, container, port, first, templates_dir, ready_deadline),
                       restart_policy_phase((node,), deployment.id, templates_dir)), deployment)


def _preflight(node: Node, image: str, port: int, templates_dir: str | None) -> Phase:
    script = render("proxy_preflight", templates_dir, image=image, port=port)
    return Phase("preflight", "Proxy preflight", (Step(node.name, "check the proxy image and port", script, 60),))


def _start(node: Node, deployment: Deployment, container: str, image: str, port: int, config: str,
           routed: dict[str, list[str]], templates_dir: str | None) -> Phase:
    labels = argv.label_options(deployment, node, ProxyRole.PROXY)
    labels += ["--label", f"{BACKENDS_LABEL}={','.join(u for urls in routed.values() for u in urls)}"]
    config_path = f"~/.cache/sparkctl/proxy/{deployment.stack}.yaml"
    script = render(
        "proxy_start", templates_dir, container=container, image=image, labels=labels, config=config,
        config_dir=shell.home_path(config_path.rsplit("/", 1)[0]), config_path=shell.home_path(config_path),
        config_mount=":" + CONFIG_MOUNT + ":ro", env=argv.env_options(ENV, (SECRET, argv.API_KEY_ENV)),
        command=["--config", CONFIG_MOUNT, "--host", "0.0.0.0", "--port", str(port)],
    )
    step = Step(node.name, f"start the LiteLLM proxy for {len(routed)} model(s)", script, 120,
                secrets=(SECRET, argv.API_KEY_ENV))
    return Phase("proxy", "LiteLLM proxy", (step,))


def _readiness(node: Node, container: str, port: int, served: str, templates_dir: str | None,
               deadline: float) -> Phase:
    ready = Readiness(probes.local_url(port), served, container, deadline)
    script = probes.server_probe(templates_dir, container, port, served, probes.LITELLM, key_env=SECRET)
    step = Step(node.name, "wait until the proxy answers with the key", script, probes.PROBE_TIMEOUT,
                secrets=(SECRET,), readiness=ready)
    return Phase("proxy-readiness", "Proxy readiness", (step,), kind=PhaseKind.READINESS)
