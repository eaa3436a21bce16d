"""One invocation's connections, executor, reporter and cluster lock."""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator

from orchestrator.config.inventory import Inventory, Node
from orchestrator.config.settings import Settings
from orchestrator.errors import ConnectionFailed, StateConflict, Terminated
from orchestrator.plan import planner
from orchestrator.plan.data import Plan
from orchestrator.plan.templates import render
from orchestrator.remote.executor import Executor, Report
from orchestrator.remote.state import Container, parse_containers
from orchestrator.remote.transport import SSHTransport
from orchestrator.report.events import Event, NoticesOnly
from orchestrator.report.progress import reporter_for


class Session:
    """One invocation's connections, executor and reporter."""

    def __init__(self, settings: Settings, inventory: Inventory, secrets: dict[str, str] | None = None,
                 quiet: bool = False):
        self.settings, self.inventory = settings, inventory
        self.emit = NoticesOnly() if quiet else reporter_for(settings.json)
        self.transport = SSHTransport(inventory, notify=lambda m: self.emit(Event("notice", message=m)))
        self.executor = Executor(self.transport, inventory, self.emit, secrets)
        # Nodes a tolerant command could not reach, with why: read and cleanup commands go on without them.
        self.unreachable: dict[str, str] = {}

    def run(self, plan: Plan, report: Report | None = None) -> Report:
        """Execute a plan."""
        return self.executor.run(plan, report)

    def containers(self, nodes: tuple[Node, ...], tolerant: bool = False) -> list[Container]:
        """Every sparkctl container on nodes, read live (tolerant: on the nodes that answer)."""
        report = self.run(planner.plan_status(nodes, self.settings.templates_dir, tolerant))
        self.unreachable.update(report.failed("status"))
        return [c for result in report.results["status"] for c in parse_containers(result)]

    def reachable(self, nodes: tuple[Node, ...]) -> tuple[Node, ...]:
        """The nodes not found unreachable so far."""
        return tuple(n for n in nodes if n.name not in self.unreachable)

    @contextlib.contextmanager
    def locked(self, nodes: tuple[Node, ...], tolerant: bool = False) -> Iterator[None]:
        """Hold the cluster lock on every node for the duration; refuse if someone else holds it.

        tolerant: a node that cannot be reached is noted in `unreachable` and left out, not a failure.
        """
        owner = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
        script = render("lock", self.settings.templates_dir, owner=owner)
        held = []
        try:
            for node in nodes:
                try:
                    hold = self.transport.hold(node, script, 30)
                except ConnectionFailed as exc:
                    if tolerant:
                        self.unreachable[node.name] = str(exc)
                        continue
                    raise ConnectionFailed(f"phase connect failed on {node.name}: {exc}") from None
                held.append(hold)
                if hold.channel is None:
                    raise StateConflict(f"{node.name}: {hold.result.stderr.strip() or 'cannot take the lock'}")
            yield
        finally:
            for hold in held:
                hold.release(wait=not self.transport.is_lost(hold.node))

    def close(self) -> None:
        """Close connections and stop progress output."""
        self.transport.close()
        self.emit.close()


@contextlib.contextmanager
def session(settings: Settings, inventory: Inventory, secrets: dict[str, str] | None = None,
            quiet: bool = False) -> Iterator[Session]:
    """A Session that always closes its connections; SIGTERM behaves like Ctrl-C (quiet: no progress lines)."""
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() else None
    current = Session(settings, inventory, secrets, quiet)
    try:
        yield current
    finally:
        current.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum, _frame):
    raise Terminated
