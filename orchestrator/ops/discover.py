"""`init`: write inventory.yaml from what the nodes report over SSH: names, fabric interface and IP, RoCE devices."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from orchestrator.config import values
from orchestrator.config.inventory import DEFAULT_ULIMITS, Defaults, Inventory, Node
from orchestrator.config.settings import Settings
from orchestrator.errors import ConfigError, ExecutionError
from orchestrator.ops.doctor_checks import RdmaDevice, parse_rdma
from orchestrator.plan.data import Phase, Plan, Step
from orchestrator.plan.templates import render
from orchestrator.remote.session import session

PROBE_TIMEOUT = 30.0
REACH_TIMEOUT = 20.0
HEADER = "# written by 'sparkctl init' from what the nodes reported over SSH\n"


@dataclass(frozen=True)
class Access:
    """How to reach the nodes: the SSH user, port, key and known_hosts the inventory will name."""

    user: str
    port: int = 22
    ssh_key: str | None = None
    known_hosts: str | None = None


@dataclass(frozen=True)
class Interface:
    """One network interface of a node, as the probe saw it."""

    name: str
    state: str
    mtu: str
    driver: str
    addresses: tuple[str, ...]


def parse_interfaces(facts: dict[str, str]) -> list[Interface]:
    """`if.NAME=state:mtu:driver:addr/len,...` lines into interfaces (addresses without the prefix length)."""
    found = []
    for key, value in facts.items():
        if key.startswith("if."):
            state, mtu, driver, addrs = (value.split(":", 3) + ["", "", ""])[:4]
            found.append(Interface(key[3:], state, mtu, driver, tuple(a.split("/")[0] for a in addrs.split(",") if a)))
    return sorted(found, key=lambda i: i.name)


def candidates(ip: str, interfaces: list[Interface]) -> list[Interface]:
    """Interfaces that may be the fabric: up, with an IPv4 address, and not the one SSH came in on."""
    return [i for i in interfaces if i.addresses and ip not in i.addresses and i.state.lower() in ("up", "unknown")]


def choose_fabric(ip: str, interfaces: list[Interface], devices: list[RdmaDevice],
                  reached: dict[str, int], peers: int) -> Interface | None:
    """The interface whose address every other node reaches; RoCE-backed and mlx5 ones first.

    With no peers (one node), the interface an RDMA device sits on.
    """
    rdma_netdevs = {d.netdev for d in devices}
    pool = candidates(ip, interfaces)
    if peers:
        pool = [i for i in pool if max((reached.get(a, 0) for a in i.addresses), default=0) >= peers]
    else:
        pool = [i for i in pool if i.name in rdma_netdevs]
    ranked = sorted(pool, key=lambda i: (i.name not in rdma_netdevs, i.driver != "mlx5_core", i.name))
    return ranked[0] if ranked else None


def rdma_value(devices: list[RdmaDevice], fabric_if: str | None) -> str | None:
    """The active RoCE devices (those on the fabric interface first) as the inventory accepts them."""
    active = sorted((d for d in devices if d.state == "ACTIVE"), key=lambda d: (d.netdev != fabric_if, d.name.lower()))
    if not active:
        return None
    return values.name_list(",".join(d.name for d in active))


def ulimits(facts: list[dict[str, str]]) -> dict[str, str]:
    """Container ulimits dockerd can grant: its own hard limits, where they sit below Spark's defaults."""
    found = {}
    for key in ("memlock", "nofile"):
        limits = [f.get(f"dockerd_{key}") for f in facts]
        numbers = [int(v) for v in limits if v and v.isdigit()]
        default = DEFAULT_ULIMITS[key]
        if numbers and (default == "-1" or min(numbers) < int(default)):
            found[key] = str(min(numbers))
    return found


def probe_inventory(ips: tuple[str, ...], access: Access, output: Path) -> Inventory:
    """An inventory naming nodes by IP, only to reach them for the probes."""
    defaults = Defaults(user=access.user, port=access.port, ssh_key=access.ssh_key, known_hosts=access.known_hosts)
    try:
        return Inventory(defaults=defaults, nodes=tuple(Node(name=ip, ip=ip) for ip in ips), source=str(output))
    except ValidationError as exc:
        raise ConfigError(f"init: {exc.errors()[0]['msg']}") from None


def discover(settings: Settings, ips: tuple[str, ...], access: Access, output: Path) -> str:
    """Probe the nodes, find each fabric link by who reaches whom, and return the inventory's YAML."""
    inventory = probe_inventory(ips, access, output.resolve())
    with session(settings, inventory) as current:
        steps = tuple(Step(n.name, "what the node has", render("discover_node", settings.templates_dir), PROBE_TIMEOUT)
                      for n in inventory.nodes)
        facts = current.run(Plan("init", (Phase("discover", "asking the nodes", steps),))).facts("discover")
        interfaces = {ip: parse_interfaces(facts[ip]) for ip in ips}
        reached = reach_counts(current, ips, interfaces, settings.templates_dir)
    nodes = [node_entry(ip, facts[ip], interfaces[ip], reached, len(ips) - 1) for ip in ips]
    return render_inventory(access, nodes, ulimits(list(facts.values())))


def reach_counts(current, ips: tuple[str, ...], interfaces: dict[str, list[Interface]],
                 templates_dir: str | None) -> dict[str, int]:
    """For each candidate address, how many other nodes reach it."""
    if len(ips) < 2:
        return {}
    steps = []
    for ip in ips:
        peers = [{"name": a, "ip": a} for other in ips if other != ip for i in candidates(other, interfaces[other])
                 for a in i.addresses]
        steps.append(Step(ip, "reach the other nodes' addresses", render("doctor_pairs", templates_dir, peers=peers),
                          REACH_TIMEOUT))
    facts = current.run(Plan("init", (Phase("reach", "finding the fabric links", tuple(steps)),))).facts("reach")
    counts: dict[str, int] = {}
    for node_facts in facts.values():
        for key, value in node_facts.items():
            if key.startswith("reach.") and value == "yes":
                counts[key[6:]] = counts.get(key[6:], 0) + 1
    return counts


def node_entry(ip: str, facts: dict[str, str], interfaces: list[Interface], reached: dict[str, int],
               peers: int) -> dict[str, str]:
    """One node of the inventory: hostname, management IP, fabric interface and IP, RoCE devices."""
    devices = parse_rdma(facts.get("rdma", ""))
    fabric = choose_fabric(ip, interfaces, devices, reached, peers)
    entry = {"name": facts.get("hostname", ip), "ip": ip}
    if fabric is not None:
        address = max(fabric.addresses, key=lambda a: reached.get(a, 0))
        entry.update(fabric_ip=address, fabric_if=fabric.name)
    rdma = rdma_value(devices, fabric.name if fabric else None)
    if rdma:
        entry["rdma_dev"] = rdma
    return entry


def render_inventory(access: Access, nodes: list[dict[str, str]], limits: dict[str, str]) -> str:
    """The YAML text, validated against the inventory model before anyone sees it."""
    defaults = {"user": access.user, **({"port": access.port} if access.port != 22 else {})}
    defaults.update({k: v for k, v in (("ssh_key", access.ssh_key), ("known_hosts", access.known_hosts)) if v})
    if limits:
        defaults["ulimits"] = limits
    document = {"defaults": defaults, "nodes": nodes}
    try:
        Inventory.model_validate(document)
    except ValidationError as exc:
        raise ExecutionError(f"init: the nodes reported values the inventory refuses: {exc.errors()[0]['msg']} "
                             "(rename the node, e.g. with hostnamectl, and run init again)") from None
    return HEADER + yaml.safe_dump(document, sort_keys=False)


def write(path: Path, text: str) -> None:
    """Write the inventory file (its directory created if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
