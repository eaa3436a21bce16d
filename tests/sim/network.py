"""Bridges, veth pairs and network namespaces of the simulated nodes."""

from __future__ import annotations

import re
from pathlib import Path

from tests.sim.layout import (
    FABRIC_BRIDGE,
    FABRIC_IF,
    FABRIC_PREFIX,
    MGMT_BRIDGE,
    MGMT_IF,
    MGMT_PREFIX,
    NETNS_PREFIX,
    NodeLayout,
)
from tests.sim.shell import run

NETNS_DIR = Path("/run/netns")


def link_exists(name: str) -> bool:
    """Whether a host network interface called `name` exists."""
    return Path("/sys/class/net", name).exists()


def bridge_owner(bridge: str = MGMT_BRIDGE) -> str | None:
    """The cluster directory recorded on the management bridge, if the bridge exists."""
    alias = Path("/sys/class/net", bridge, "ifalias")
    return alias.read_text().strip() or None if alias.exists() else None


def create_bridges(owner: Path) -> None:
    """Create both bridges with the host's addresses; record `owner` on the management bridge."""
    for bridge, prefix in ((MGMT_BRIDGE, MGMT_PREFIX), (FABRIC_BRIDGE, FABRIC_PREFIX)):
        run(["ip", "link", "add", bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{prefix}.1/24", "dev", bridge])
        run(["ip", "link", "set", bridge, "up"])
    run(["ip", "link", "set", MGMT_BRIDGE, "alias", str(owner)])


def create_node_netns(node: NodeLayout) -> None:
    """Create the node's netns with its management and fabric interfaces, and no default route."""
    run(["ip", "netns", "add", node.netns])
    in_ns = ["ip", "-n", node.netns]
    run([*in_ns, "link", "set", "lo", "up"])
    links = (
        (node.mgmt_veth, MGMT_IF, MGMT_BRIDGE, node.ip),
        (node.fabric_veth, FABRIC_IF, FABRIC_BRIDGE, node.fabric_ip),
    )
    for host_side, inner, bridge, address in links:
        run(["ip", "link", "add", host_side, "type", "veth", "peer", "name", inner, "netns", node.netns])
        run(["ip", "link", "set", host_side, "master", bridge, "up"])
        run([*in_ns, "addr", "add", f"{address}/24", "dev", inner])
        run([*in_ns, "link", "set", inner, "up"])


def set_links(node: NodeLayout, which: list[str], up: bool) -> None:
    """Bring the host-side veths named in `which` up or down (a cut cable, or its repair)."""
    for host_side in which:
        run(["ip", "link", "set", host_side, "up" if up else "down"])


def link_is_up(name: str) -> bool:
    """Whether the host interface is administratively up."""
    flags = int(Path("/sys/class/net", name, "flags").read_text(), 16)
    return bool(flags & 0x1)


def harness_netns() -> list[str]:
    """Names of existing network namespaces that look like ours (sn<digits>)."""
    if not NETNS_DIR.is_dir():
        return []
    pattern = re.compile(rf"^{NETNS_PREFIX}\d+$")
    return sorted(p.name for p in NETNS_DIR.iterdir() if pattern.match(p.name))


def harness_links() -> list[str]:
    """Host interfaces that look like ours: the two bridges and vsn*/vfn* veths."""
    pattern = re.compile(rf"^({MGMT_BRIDGE}|{FABRIC_BRIDGE}|v[sf]n\d+)$")
    return sorted(p.name for p in Path("/sys/class/net").iterdir() if pattern.match(p.name))


def netns_inode(name: str) -> int | None:
    """The inode identifying a named netns, to find processes living in it."""
    try:
        return (NETNS_DIR / name).stat().st_ino
    except OSError:
        return None


def delete_all() -> None:
    """Delete every netns and interface of the harness that exists; tolerate missing ones."""
    for name in harness_netns():
        run(["ip", "netns", "del", name], check=False)
    for link in harness_links():
        if link_exists(link):
            run(["ip", "link", "del", link], check=False)
