"""SSH transport: one fabric Connection per node per invocation, scripts to `bash -se` on stdin."""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import fabric
import paramiko

from orchestrator.config.inventory import Inventory, Node
from orchestrator.errors import Cancelled, ConnectionFailed, HostKeyError
from orchestrator.plan import shell
from orchestrator.remote import hostkeys
from orchestrator.remote.forward import Forwarder

CONNECT_TIMEOUT = 10.0
# paramiko logs refused channels and resets to stderr by itself; sparkctl reports failures in its own words.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
KEEPALIVE = 2
LOST_AFTER = 8.0
RELEASE_WAIT = 3.0
PREAMBLE = "set -o pipefail\ntrap 'echo \"sparkctl: failed ($?): $BASH_COMMAND\" >&2' ERR\n"


@dataclass(frozen=True)
class Result:
    """What a script did on a node."""

    node: str
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Exit code 0 and no timeout."""
        return self.exit_code == 0 and not self.timed_out

    def facts(self) -> dict[str, str]:
        """`key=value` lines of stdout as a dict."""
        pairs = (line.split("=", 1) for line in self.stdout.splitlines() if "=" in line)
        return {key.strip(): value.strip() for key, value in pairs}


@dataclass
class Held:
    """A script kept running on a node (a lock); release() ends it by closing its stdin."""

    node: str
    channel: paramiko.Channel | None
    result: Result

    def release(self, wait: bool = True) -> None:
        """Let the held script finish (waiting for it only if the node still answers)."""
        if self.channel is not None:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                self.channel.shutdown_write()
                if wait:
                    self.channel.status_event.wait(RELEASE_WAIT)
            self.channel.close()
            self.channel = None


class Transport(Protocol):
    """Runs scripts on nodes."""

    def run(self, node: Node, script: str, timeout: float, secrets: dict[str, str] | None = None,
            cancel: threading.Event | None = None) -> Result: ...

    def stream(self, node: Node, script: str, stop: threading.Event) -> Iterator[str]: ...

    def hold(self, node: Node, script: str, timeout: float) -> Held: ...

    def close(self) -> None: ...

    def lose(self, node: Node, why: str) -> ConnectionFailed: ...

    def is_lost(self, name: str) -> bool: ...


def stdin_script(script: str, secrets: dict[str, str] | None) -> str:
    """The text sent on stdin: error trap, secret exports (never in argv), then the script."""
    exports = "".join(f"export {name}={shell.quote(value)}\n" for name, value in (secrets or {}).items())
    return PREAMBLE + exports + script


class SSHTransport:
    """Opens each node's connection once and multiplexes every step over it."""

    def __init__(self, inventory: Inventory, notify: Callable[[str], None] = lambda _msg: None):
        self.inventory = inventory
        self.notify = notify
        self._connections: dict[str, fabric.Connection] = {}
        # A node declared lost stays lost for this invocation: rollback and log saving skip it at once.
        self._lost: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {n.name: threading.Lock() for n in inventory.nodes}
        self._known_lock = threading.Lock()
        self._known: dict[Path, paramiko.HostKeys] = {}
        self._config = fabric.Config(runtime_ssh_path=inventory.ssh_config_path())

    def run(self, node: Node, script: str, timeout: float, secrets: dict[str, str] | None = None,
            cancel: threading.Event | None = None) -> Result:
        """Run script with bash on node; never raises for a non-zero exit.

        Raises ConnectionFailed when the node stops answering (keepalives notice within LOST_AFTER seconds),
        and Cancelled when cancel is set: the channel closes and the node's own timeout ends the script.
        """
        started = time.monotonic()
        channel = self._session(node)
        try:
            channel.settimeout(1.0)
            # The node enforces the step's timeout too, so a step we give up on does not run on unseen.
            channel.exec_command(f"timeout --kill-after=5 {math.ceil(timeout) + 1} bash -se")
            channel.sendall(stdin_script(script, secrets).encode())
            channel.shutdown_write()
            out, err, timed_out = _drain(channel, timeout, cancel)
            code = -1 if timed_out else channel.recv_exit_status()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise self.lose(node, f"the SSH connection failed: {exc or type(exc).__name__}") from None
        except _Lost:
            raise self.lose(node, f"stopped answering (no SSH keepalive reply for {LOST_AFTER:g}s)") from None
        finally:
            channel.close()
        return Result(node.name, code, out, err, time.monotonic() - started, timed_out)

    def stream(self, node: Node, script: str, stop: threading.Event) -> Iterator[str]:
        """Yield stdout+stderr lines of a long-running script until it ends or stop is set."""
        channel = self._session(node)
        channel.settimeout(0.5)
        channel.set_combine_stderr(True)
        channel.exec_command("bash -se")
        channel.sendall(stdin_script(script, None).encode())
        channel.shutdown_write()
        buffer = b""
        try:
            while not stop.is_set():
                try:
                    chunk = channel.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                yield from (line.decode(errors="replace") for line in lines)
            if buffer:
                yield buffer.decode(errors="replace")
        finally:
            channel.close()

    def hold(self, node: Node, script: str, timeout: float) -> Held:
        """Start script and keep it running until released; returns once it prints its first line or ends."""
        channel = self._session(node)
        channel.settimeout(1.0)
        channel.exec_command("bash -se")
        channel.sendall(stdin_script(script, None).encode())
        deadline = time.monotonic() + timeout
        while not channel.recv_ready() and not channel.exit_status_ready() and time.monotonic() < deadline:
            channel.status_event.wait(0.05)
        first = channel.recv(4096).decode(errors="replace") if channel.recv_ready() else ""
        if channel.exit_status_ready() or not first:
            out, err, _ = _drain(channel, 2.0)
            channel.close()
            return Held(node.name, None, Result(node.name, channel.exit_status, first + out, err, 0.0))
        return Held(node.name, channel, Result(node.name, 0, first, "", 0.0))

    @contextlib.contextmanager
    def forward(self, node: Node, remote_port: int, local_port: int = 0) -> Iterator[int]:
        """Forward a local port to 127.0.0.1:remote_port on node through its SSH connection; yields the local port.

        Only SSH has to reach the node: a server behind a firewall or a bastion is measured the same way.
        """
        forwarder = Forwarder(self._connect(node).transport, remote_port, local_port)
        try:
            yield forwarder.port
        finally:
            forwarder.close()

    def close(self) -> None:
        """Close every connection this invocation opened."""
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def _session(self, node: Node) -> paramiko.Channel:
        connection = self._connect(node)
        try:
            return connection.transport.open_session(timeout=CONNECT_TIMEOUT)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise self.lose(node, f"no new SSH session: {exc or type(exc).__name__}") from None

    def is_lost(self, name: str) -> bool:
        """Whether the node stopped answering earlier in this invocation."""
        return name in self._lost

    def lose(self, node: Node, why: str) -> ConnectionFailed:
        """Remember that node is gone for the rest of this invocation; the error to raise."""
        self._lost[node.name] = why
        return ConnectionFailed(f"{node.name} ({node.ip}): {why}")

    def _connect(self, node: Node) -> fabric.Connection:
        if node.name in self._lost:
            raise ConnectionFailed(f"{node.name} ({node.ip}): {self._lost[node.name]} earlier in this run; skipped")
        with self._locks[node.name]:
            existing = self._connections.get(node.name)
            if existing is not None and existing.is_connected:
                return existing
            connection = self._new_connection(node)
            self._connections[node.name] = connection
            return connection

    def _new_connection(self, node: Node) -> fabric.Connection:
        key = self.inventory.key_of(node)
        connection = fabric.Connection(
            node.ip, user=self.inventory.user_of(node), port=self.inventory.port_of(node), config=self._config,
            connect_timeout=CONNECT_TIMEOUT, connect_kwargs={"key_filename": [key]} if key else {},
        )
        known = hostkeys.known_hosts_file(self.inventory.known_hosts_path(),
                                          connection.ssh_config.get("userknownhostsfile"))
        # One parsed known_hosts shared by every connection: paramiko's parser is slow and this runs per node.
        connection.client._host_keys = self._host_keys(known)
        connection.client.set_missing_host_key_policy(hostkeys.RecordFirstContact(known, self.notify))
        _open(connection, node, known)
        _keep_alive(connection.transport)
        return connection


    def _host_keys(self, known: Path) -> paramiko.HostKeys:
        with self._known_lock:
            if known not in self._known:
                self._known[known] = paramiko.HostKeys(str(known) if known.is_file() else None)
            return self._known[known]


def _keep_alive(transport: paramiko.Transport) -> None:
    """SSH keepalives plus a TCP user timeout: a node that stops answering is declared lost in LOST_AFTER seconds."""
    transport.set_keepalive(KEEPALIVE)
    sock = transport.sock
    if isinstance(sock, socket.socket) and hasattr(socket, "TCP_USER_TIMEOUT"):
        # Unacknowledged data (the keepalives themselves) older than this aborts the connection.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(LOST_AFTER * 1000))


def _open(connection: fabric.Connection, node: Node, known) -> None:
    """Connect, turning paramiko's exceptions into messages naming the node and the fix."""
    where = f"{node.name} ({node.ip})"
    try:
        connection.open()
    except paramiko.BadHostKeyException:
        raise HostKeyError(f"{where}: {hostkeys.changed_key_message(node.ip, known)}") from None
    except paramiko.AuthenticationException as exc:
        raise ConnectionFailed(f"{where}: SSH authentication failed ({exc}); check the user and ssh_key "
                               "in the inventory, or your ssh-agent") from None
    except TimeoutError:
        raise ConnectionFailed(f"{where}: no answer on SSH within {CONNECT_TIMEOUT:g}s (is it up and reachable?)") from None
    except (OSError, paramiko.SSHException, EOFError) as exc:
        raise ConnectionFailed(f"{where}: cannot connect over SSH: {exc or type(exc).__name__}") from None


class _Lost(Exception):
    """The channel's connection died under it."""


def _drain(channel: paramiko.Channel, timeout: float, cancel: threading.Event | None = None) -> tuple[str, str, bool]:
    """Read stdout and stderr until the command ends or the timeout passes."""
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    while time.monotonic() < deadline:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        if not channel.get_transport().is_active():
            raise _Lost()
        if channel.recv_ready():
            out += channel.recv(65536)
        elif channel.recv_stderr_ready():
            err += channel.recv_stderr(65536)
        elif channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
            return out.decode(errors="replace"), err.decode(errors="replace"), False
        else:
            channel.status_event.wait(0.05)
            time.sleep(0.005)
    return out.decode(errors="replace"), err.decode(errors="replace"), True
