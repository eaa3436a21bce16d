"""The "port 22 only" workstation: the host opens nothing but SSH to the nodes; nodes talk freely."""

from __future__ import annotations

import shutil

from tests.sim.layout import FABRIC_BRIDGE, MGMT_BRIDGE
from tests.sim.shell import SimError, run

CHAIN = "SPARKSIM-P22"
BRIDGES = (MGMT_BRIDGE, FABRIC_BRIDGE)
# Stateless on purpose: only new connections the host opens are refused, so replies to what nodes open
# towards the host (the simulated hub) still flow, and no conntrack module is needed.
RULES = (
    ("-p", "tcp", "--dport", "22", "-j", "ACCEPT"),
    ("-p", "tcp", "--syn", "-j", "REJECT", "--reject-with", "tcp-reset"),
    ("-p", "udp", "-j", "REJECT"),
    ("-p", "icmp", "--icmp-type", "echo-request", "-j", "REJECT"),
)


def install() -> None:
    """Add the chain and hook it into OUTPUT for both bridges (traffic between nodes never passes OUTPUT)."""
    if not shutil.which("iptables"):
        raise SimError("the port-22-only mode needs iptables (run: bash tests/sim/system-deps.sh)")
    remove()
    run(["iptables", "-N", CHAIN])
    for rule in RULES:
        run(["iptables", "-A", CHAIN, *rule])
    for bridge in BRIDGES:
        run(["iptables", "-I", "OUTPUT", "-o", bridge, "-j", CHAIN])


def remove() -> None:
    """Undo `install`; quiet when nothing is there."""
    if not shutil.which("iptables") or not installed():
        return
    for bridge in BRIDGES:
        while run(["iptables", "-D", "OUTPUT", "-o", bridge, "-j", CHAIN], check=False).returncode == 0:
            pass
    run(["iptables", "-F", CHAIN], check=False)
    run(["iptables", "-X", CHAIN], check=False)


def installed() -> bool:
    """Whether the chain exists."""
    return run(["iptables", "-n", "-L", CHAIN], check=False).returncode == 0
