"""Faults `sparkctl doctor` must catch: a fabric link down, an MTU mismatch, a missing route between two nodes."""

from __future__ import annotations

from tests.sim import strict
from tests.sim.layout import FABRIC_IF, NodeLayout
from tests.sim.shell import run

DEFAULT_MTU = 1500
JUMBO_MTU = 9000


def _in_node(node: NodeLayout, *argv: str, check: bool = True):
    return run(["ip", "-n", node.netns, *argv], check=check)


def fabric_down(node: NodeLayout) -> None:
    """The node's ConnectX-7 port goes down (the node's own view: interface down, RDMA ports DOWN)."""
    _in_node(node, "link", "set", FABRIC_IF, "down")
    if node.rdma_sys.exists():
        strict.set_port_state(node, strict.PORT_DOWN)


def fabric_up(node: NodeLayout) -> None:
    """Undo `fabric_down`."""
    _in_node(node, "link", "set", FABRIC_IF, "up")
    if node.rdma_sys.exists():
        strict.set_port_state(node, strict.PORT_ACTIVE)


def set_mtu(node: NodeLayout, mtu: int = JUMBO_MTU) -> None:
    """Give the node's fabric interface its own MTU (the others keep theirs): jumbo frames get dropped."""
    _in_node(node, "link", "set", "dev", FABRIC_IF, "mtu", str(mtu))


def drop_route(node: NodeLayout, peer: NodeLayout) -> None:
    """`node` loses its route to `peer`'s fabric address (a blackhole route), so neither reaches the other."""
    _in_node(node, "route", "replace", "blackhole", f"{peer.fabric_ip}/32")


def restore_route(node: NodeLayout, peer: NodeLayout) -> None:
    """Undo `drop_route`."""
    _in_node(node, "route", "del", "blackhole", f"{peer.fabric_ip}/32", check=False)


def heal(node: NodeLayout) -> None:
    """Undo every fault of this module on the node."""
    fabric_up(node)
    set_mtu(node, DEFAULT_MTU)
    _in_node(node, "route", "flush", "type", "blackhole", check=False)
