"""Runs a transfer step: the receiver on the target, then the sender on the source, both watched until done.

Nodes hold no SSH keys for each other, so the receiver listens on the target's fabric IP with a one-time
token it made itself and the sender connects to it: the bytes never pass through the workstation. Both
ends print progress twice a second; an end silent for HEARTBEAT seconds means its management link (SSH) is
gone, and their own stall timeouts catch a dead fabric link. Closing an end's stdin stops it at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from orchestrator.errors import Cancelled, ExecutionError
from orchestrator.plan import shell
from orchestrator.plan.data import Phase
from orchestrator.plan.transfer import PORT_ENV, TOKEN_ENV, TransferStep
from orchestrator.remote.transport import Result
from orchestrator.report.events import Event
from orchestrator.report.units import human_bytes

HEARTBEAT = 6.0
START_WAIT = 8.0
STOP_WAIT = 1.0
QUIET = 4.0
SHOW_EVERY = 2.0
STOP = threading.Event()
FAILED = threading.Event()


@dataclass
class End:
    """One side of a transfer: its node, held channel and what it said so far."""

    role: str
    node: object
    channel: object
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)
    heard: float = field(default_factory=time.monotonic)
    code: int | None = None

    def poll(self) -> None:
        """Collect output; note the exit status once the program ended and said everything."""
        if self.channel is None:
            return
        while self.channel.recv_ready():
            self.out += self.channel.recv(65536)
            self.heard = time.monotonic()
        while self.channel.recv_stderr_ready():
            self.err += self.channel.recv_stderr(65536)
            self.heard = time.monotonic()
        if self.code is None and self.channel.exit_status_ready() and not self.channel.recv_ready():
            self.code = self.channel.recv_exit_status()

    def facts(self) -> dict[str, str]:
        """key=value lines printed so far; the last one of a key wins."""
        pairs = (ln.split("=", 1) for ln in self.out.decode(errors="replace").splitlines() if "=" in ln)
        return dict(pairs)

    def said(self) -> str:
        """The program's own error lines, else its exit status."""
        lines = [ln for ln in self.err.decode(errors="replace").splitlines() if ln.strip()]
        lines = [ln.removeprefix("sparkctl copy: ") for ln in lines if not ln.startswith("sparkctl: failed")]
        return "; ".join(lines[-3:]) or f"exit {self.code}"


@contextlib.contextmanager
def stopping_on_interrupt() -> Iterator[None]:
    """Ctrl-C and SIGTERM also stop running transfers (the executor's threads would finish them first)."""
    STOP.clear()
    FAILED.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum, _frame):
        STOP.set()
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_step(executor, phase: Phase, step: TransferStep) -> Result:
    """Move the bytes from step.source to step.node; raise naming the node and the link when it fails."""
    source, target = executor.inventory.node(step.source), executor.inventory.node(step.node)
    ends: list[End] = []
    try:
        receiver = _start(executor.transport, "receiver", target, step.script, ends)
        port, token = _announced(receiver, step)
        exports = f"export {PORT_ENV}={port}\nexport {TOKEN_ENV}={shell.quote(token)}\n"
        _start(executor.transport, "sender", source, exports + step.send, ends)
        return _watch(executor, phase, step, ends)
    except ExecutionError:
        FAILED.set()  # the other transfers stop too, so the run fails now; what they copied stays
        raise
    finally:
        for end in ends:
            _stop(end, wait=_answering(executor.transport, end))


def _start(transport, role: str, node, script: str, ends: list[End]) -> End:
    held = transport.hold(node, script, START_WAIT)
    end = End(role, node, held.channel, bytearray(held.result.stdout.encode()), bytearray(held.result.stderr.encode()))
    if held.channel is None:  # it already ended (a small copy can) or never started
        end.code = held.result.exit_code
        if not held.result.stdout and not held.result.stderr:
            raise ExecutionError(f"transfer: the {role} on {node.name} did not start within {START_WAIT:g}s")
    ends.append(end)
    return end


def _announced(receiver: End, step: TransferStep) -> tuple[int, str]:
    deadline = time.monotonic() + START_WAIT
    while "listen" not in receiver.facts() and receiver.code is None and time.monotonic() < deadline:
        receiver.channel.status_event.wait(0.05)
        receiver.poll()
    try:
        port, token = receiver.facts()["listen"].split()
        return int(port), token
    except (KeyError, ValueError):
        raise ExecutionError(f"transfer to {step.node}: the receiver did not announce its port: {receiver.said()}") from None


def _watch(executor, phase: Phase, step: TransferStep, ends: list[End]) -> Result:
    started, shown = time.monotonic(), time.monotonic()
    while not all(end.code == 0 for end in ends):
        if STOP.is_set():
            raise KeyboardInterrupt
        if FAILED.is_set():
            raise Cancelled(f"transfer {step.source} -> {step.node}: stopped, another transfer failed "
                                 "(what it copied stays; the next run resumes)")
        for end in ends:
            end.poll()
            _check(executor.transport, end, step)
        if time.monotonic() - shown > SHOW_EVERY:
            shown = time.monotonic()
            _show_progress(executor, phase, step, ends[0], shown - started)
        time.sleep(0.05)
    facts = {**ends[1].facts(), **ends[0].facts()}
    moved, seconds = int(facts.get("received", 0)), float(facts.get("seconds", 0))
    executor.emit(Event("step-done", phase.name, step.node, f"{step.description}: {human_bytes(moved)} at "
                        f"{human_bytes(moved / max(seconds, 1e-6))}/s", time.monotonic() - started))
    stdout = f"source={step.source}\nbytes={moved}\nseconds={seconds}\n"
    return Result(step.node, 0, stdout, "", time.monotonic() - started)


def _check(transport, end: End, step: TransferStep) -> None:
    where = f"transfer {step.source} -> {step.node} over the {step.link} link ({step.target_ip})"
    if end.code not in (None, 0):
        raise ExecutionError(f"{where}: the {end.role} on {end.node.name} failed: {end.said()}")
    if end.code is None and time.monotonic() - end.heard > HEARTBEAT:
        # Lost for the rest of the run: releasing its lock or stopping its programs must not wait on it.
        transport.lose(end.node, f"stopped answering over SSH for {HEARTBEAT:g}s")
        raise ExecutionError(f"{where}: {end.node.name} ({end.node.ip}) stopped answering over the management "
                             f"link (SSH) for {HEARTBEAT:g}s")


def _show_progress(executor, phase: Phase, step: TransferStep, receiver: End, seconds: float) -> None:
    moved = int(receiver.facts().get("progress", 0))
    executor.emit(Event("progress", phase.name, step.node, f"{human_bytes(moved)} from {step.source} at "
                        f"{human_bytes(moved / max(seconds, 1e-6))}/s"))


def _answering(transport, end: End) -> bool:
    """Whether the end's node still talks; one silent for QUIET while its program prints twice a second is lost."""
    if end.code is None and time.monotonic() - end.heard > QUIET:
        transport.lose(end.node, f"stopped answering over SSH (silent for {time.monotonic() - end.heard:.0f}s)")
    return not transport.is_lost(end.node.name)


def _stop(end: End, wait: bool) -> None:
    """Closing stdin ends the program at once; a dead link gets STOP_WAIT seconds, a lost node none."""
    if end.channel is None:
        return
    with contextlib.suppress(OSError, EOFError):
        end.channel.shutdown_write()
        if wait:
            end.channel.status_event.wait(STOP_WAIT)
    end.channel.close()

