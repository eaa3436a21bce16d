"""Node-to-node copies as plan steps, and what a finished copy moved.

The copier (programs/copier*.py) runs on both ends with `python3 -c`, which DGX OS has; the executor's
transfer runner (remote/transfer.py) starts and watches both ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from orchestrator.config.inventory import Node
from orchestrator.plan.transfer import TransferStep
from orchestrator.remote.executor import Report
from orchestrator.report.units import human_bytes

COPY_TIMEOUT = 6 * 3600.0


PARTS = ("copier.py", "copier_receive.py", "copier_send.py")


@cache
def copier() -> str:
    """The copier program's text: its parts as one program (main comes last)."""
    return "\n\n".join((Path(__file__).parent / "programs" / part).read_text() for part in PARTS)


def fabric_ip(node: Node) -> str:
    """Where node receives copies: its fabric address, else its management one."""
    return node.fabric_ip or node.ip


def transfer_step(source: Node, target: Node, description: str, receive: str, send: str) -> TransferStep:
    """One copy from source to target over the fabric."""
    link = "fabric" if target.fabric_ip else "management"
    return TransferStep(target.name, description, receive, COPY_TIMEOUT, source=source.name, send=send,
                        target_ip=fabric_ip(target), link=link)


@dataclass(frozen=True)
class Transfer:
    """What one node-to-node copy moved."""

    source: str
    target: str
    bytes: int
    seconds: float

    @property
    def rate(self) -> str:
        """Bytes per second, human-readable."""
        return f"{human_bytes(self.bytes / max(self.seconds, 1e-6))}/s"


def transfers(report: Report, phase: str) -> list[Transfer]:
    """The copies a transfer phase made, from its facts."""
    return [Transfer(f["source"], node, int(f["bytes"]), float(f["seconds"])) for node, f in report.facts(phase).items()]

