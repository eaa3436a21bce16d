"""Builders of argument lists (plain data; templates quote them): vllm serve, ray start, docker options."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.config.inventory import Inventory, Node
from orchestrator.config.mods import mod_archive, mod_digest
from orchestrator.config.values import url_host
from orchestrator.plan import shell
from orchestrator.plan.data import Deployment
from orchestrator.plan.topology import Role

if TYPE_CHECKING:
    from orchestrator.config.recipe import Recipe

CONTAINER = "sparkctl-vllm"
LABEL = "sparkctl.deployment"
# A stack's deployments carry their name, so several share a node without their containers colliding.
NAME_LABEL = "sparkctl.name"
STACK_LABEL = "sparkctl.stack"
# The share of the node's memory a stack's server takes, so another stack on the node can count it.
MEMORY_LABEL = "sparkctl.memory"
# vLLM's own default when a recipe leaves gpu-memory-utilization unset (the lint rules assume the same).
VLLM_DEFAULT_SHARE = 0.92
# Runs once per `up` inside the head container: one Ray driver that waits for the cluster, then prints each change
# of membership until every expected node is alive with enough GPUs (argv: expected IPs, GPUs, deadline seconds).
_RAY_WATCH_SOURCE = """
import json, sys, time
expected, need, deadline = set(sys.argv[1].split(",")), float(sys.argv[2]), time.time() + float(sys.argv[3])
import ray
while True:
    try:
        ray.init(address="auto", logging_level="ERROR", log_to_driver=False)
        break
    except Exception as exc:
        if time.time() > deadline:
            sys.exit("Ray is not answering: %s" % exc)
        time.sleep(0.5)
last = None
while True:
    nodes = [[n["NodeManagerAddress"], n["Alive"], n["Resources"].get("GPU", 0)] for n in ray.nodes()]
    if nodes != last:
        print("members=" + json.dumps(nodes), flush=True)
        last = nodes
    alive = {ip for ip, up, _ in nodes if up}
    if expected <= alive and sum(g for _, up, g in nodes if up) >= need:
        sys.exit(0)
    if time.time() > deadline:
        sys.exit(1)
    time.sleep(0.2)
"""
RAY_WATCH = f"exec({_RAY_WATCH_SOURCE.strip()!r})"
MASTER_PORT_DEFAULT = 29501

# vLLM reads its API key from this variable, so the key never appears in `vllm serve`'s argv.
API_KEY_ENV = "VLLM_API_KEY"
RAY_TOKEN_ENV = "RAY_AUTH_TOKEN"


def arg_flags(args: dict[str, Any]) -> list[str]:
    """Recipe args as vLLM flags: true -> bare flag, false -> its --no- form, None -> omitted, list -> flag then items.

    `false` turns a feature off (vLLM's booleans have --no- forms); preflight refuses one the image's vLLM lacks.
    """
    flags: list[str] = []
    for key, value in args.items():
        if value is None:
            continue
        if value is True or value is False:
            flags.append(f"--{key}" if value else f"--no-{key}")
        elif isinstance(value, list):
            flags += [f"--{key}", *(_scalar(item) for item in value)]
        elif isinstance(value, dict):
            flags += [f"--{key}", json.dumps(value, separators=(",", ":"), sort_keys=True)]
        else:
            flags += [f"--{key}", _scalar(value)]
    return flags


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def vllm_serve(recipe: Recipe, api_port: int, distributed: bool = False) -> list[str]:
    """The `vllm serve` command line for a recipe."""
    command = ["vllm", "serve", recipe.model, "--host", "0.0.0.0", "--port", str(api_port)]
    command += ["--served-model-name", recipe.served_model_name]
    if recipe.revision:
        command += ["--revision", recipe.revision]
    command += arg_flags(recipe.args)
    if distributed:
        command += ["--distributed-executor-backend", "ray"]
    return command


def rank_flags(nnodes: int, rank: int, master: Node, master_port: int) -> list[str]:
    """vLLM's own multi-node launch (no Ray): this node's rank, where rank 0 listens; ranks above 0 serve no API."""
    flags = ["--nnodes", str(nnodes), "--node-rank", str(rank), "--master-addr", master.ray_ip,
             "--master-port", str(master_port)]
    return flags + (["--headless"] if rank > 0 else [])


def ray_head(node: Node, ray_port: int) -> list[str]:
    """Ray head on the fabric address, started in the background by the head's entry script before `vllm serve`."""
    return ["ray", "start", "--head", "--port", str(ray_port), "--node-ip-address", node.ray_ip,
            "--include-dashboard", "false", "--disable-usage-stats"]


def ray_worker(node: Node, head: Node, ray_port: int) -> list[str]:
    """Ray worker joining the head over the fabric link, run (and watched) by the worker's entry script."""
    return ["ray", "start", "--address", f"{url_host(head.ray_ip)}:{ray_port}", "--node-ip-address", node.ray_ip,
            "--disable-usage-stats", "--block"]


def fabric_env(node: Node, inventory: Inventory, ray: bool = True) -> dict[str, str]:
    """Per-node env that pins Ray, NCCL, Gloo and UCX to the fabric link and NCCL to the RoCE devices."""
    env = {"VLLM_HOST_IP": node.ray_ip}
    if node.fabric_if:
        for key in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "TP_SOCKET_IFNAME", "UCX_NET_DEVICES"):
            env[key] = node.fabric_if
    if node.rdma_devices and inventory.defaults.rdma != "off":
        env.update(NCCL_IB_HCA=",".join(node.rdma_devices), NCCL_IB_DISABLE="0")
    elif node.rdma_devices:
        env["NCCL_IB_DISABLE"] = "1"
    if ray and inventory.defaults.ray_auth == "token":
        env["RAY_AUTH_MODE"] = "token"
    return env


def rdma_options(node: Node, inventory: Inventory) -> list[str]:
    """What lets NCCL use RDMA inside the container; without it NCCL silently falls back to TCP sockets."""
    if not node.rdma_devices or inventory.defaults.rdma == "off":
        return []
    if inventory.defaults.rdma == "privileged":
        return ["--privileged"]
    return ["--device", "/dev/infiniband", "--cap-add", "IPC_LOCK"]


def env_options(env: dict[str, str], secrets: tuple[str, ...]) -> list[str]:
    """`-e KEY=VALUE` for plain env; `-e NAME` for secrets so docker reads them from the environment."""
    options: list[str] = []
    for key, value in env.items():
        options += ["-e", f"{key}={value}"]
    for name in secrets:
        options += ["-e", name]
    return options


def label_options(deployment: Deployment, node: Node, role: Role) -> list[str]:
    """Labels that make the cluster its own state store."""
    labels = {
        LABEL: deployment.id,
        "sparkctl.recipe": deployment.recipe,
        "sparkctl.recipe-hash": deployment.recipe_hash,
        "sparkctl.topology": deployment.topology,
        "sparkctl.role": role.value,
        "sparkctl.node": node.name,
        "sparkctl.nodes": ",".join(deployment.nodes),
        "sparkctl.endpoint": deployment.endpoint,
        "sparkctl.served-name": deployment.served_name,
    }
    if deployment.backend:
        labels["sparkctl.backend"] = deployment.backend
    if deployment.name:
        labels.update({NAME_LABEL: deployment.name, STACK_LABEL: deployment.stack})
    options: list[str] = []
    for key, value in labels.items():
        options += ["--label", f"{key}={value}"]
    return options


def memory_share(recipe: Recipe) -> float:
    """The share of a node's unified memory one server of recipe takes (its gpu-memory-utilization)."""
    return float(recipe.args.get("gpu-memory-utilization") or VLLM_DEFAULT_SHARE)


def container_name(deployment_name: str = "") -> str:
    """The vLLM container's name on each node: one per deployment, so a stack's deployments can share a node."""
    return f"{CONTAINER}-{deployment_name}" if deployment_name else CONTAINER


def ulimit_options(inventory: Inventory) -> list[str]:
    """`--ulimit name=value` for each container ulimit."""
    options: list[str] = []
    for key, value in inventory.ulimits().items():
        options += ["--ulimit", f"{key}={value}"]
    return options


def volume_options(inventory: Inventory, recipe: Recipe) -> tuple[list[shell.Shell], list[shell.Shell]]:
    """(`-v host:container` words, host dirs to create) for the cache mounts and the recipe's own."""
    volumes: list[shell.Shell] = []
    host_dirs: list[shell.Shell] = []
    for spec in {**inventory.mounts(), **recipe.mounts}.values():
        host, rest = spec.split(":", 1)
        host_dirs.append(shell.home_path(host))
        volumes += [shell.Shell("-v"), shell.Shell(shell.home_path(host) + shell.quote(":" + rest))]
    return volumes, host_dirs


MOD_ROOT = "/opt/sparkctl/mods"
MODS_CACHE = "~/.cache/sparkctl/mods"
# eugr's contract: each mod is copied to /workspace/mods/<name> and its run.sh runs there, in recipe order,
# with WORKSPACE_DIR set to the image's working directory, from which the server then starts. A container restarted
# by docker keeps its files: mods it already applied are not applied again (a patch would not apply twice).
MOD_RUNNER = (
    'set -e; wd=$PWD; mkdir -p /workspace/mods; if [ ! -e /workspace/mods/.sparkctl-applied ]; then '
    f'for dir in {MOD_ROOT}/*/; do name=$(basename "$dir"); name=${{name#*-}}; '
    'rm -rf "/workspace/mods/$name"; cp -r "$dir" "/workspace/mods/$name"; echo "sparkctl: applying mod $name"; '
    '(cd "/workspace/mods/$name" && chmod +x run.sh && WORKSPACE_DIR="$wd" ./run.sh) '
    '|| { echo "sparkctl: mod $name failed" >&2; exit 1; }; '
    'done; touch /workspace/mods/.sparkctl-applied; fi; cd "$wd"; exec "$@"'
)


@dataclass(frozen=True)
class ModShipment:
    """One mod as shipped in a plan: its files (a base64 tarball), where they land on the node and in the container."""

    name: str
    archive: str
    host_dir: shell.Shell
    mount: str


def mod_shipments(recipe: Recipe) -> tuple[ModShipment, ...]:
    """The recipe's mods, in order, ready to unpack on a node and mount into the container."""
    shipments = []
    for index, directory in enumerate(recipe.mods):
        name = Path(directory).name
        host = shell.home_path(f"{MODS_CACHE}/{mod_digest(directory)[:16]}")
        archive = base64.b64encode(mod_archive(directory)).decode()
        shipments.append(ModShipment(name, archive, host, f"{MOD_ROOT}/{index:02d}-{name}"))
    return tuple(shipments)


def mod_volumes(mods: tuple[ModShipment, ...]) -> list[shell.Shell]:
    """Read-only mounts of the unpacked mods."""
    volumes: list[shell.Shell] = []
    for mod in mods:
        volumes += [shell.Shell("-v"), shell.Shell(mod.host_dir + shell.quote(f":{mod.mount}:ro"))]
    return volumes


def entrypoint_and_command(command: list[str], mods: tuple[ModShipment, ...]) -> tuple[list[str], list[str]]:
    """An explicit --entrypoint (images differ in theirs) and its arguments; with mods, they run first."""
    if mods:
        return ["--entrypoint", "sh"], ["-c", MOD_RUNNER, "sparkctl-mods", *command]
    return ["--entrypoint", command[0]], command[1:]
