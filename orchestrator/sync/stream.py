"""Node-to-node streams over the fabric: a one-shot receiver on the target, a sender on the source.

Nodes hold no SSH keys for each other, so sparkctl starts a short-lived listener on the target's fabric
IP (one connection, a one-time token it made itself) and a sender on the source; the bytes never pass
through the workstation. Both ends are python3 one-liners, which DGX OS has; the stream is framed
(length-prefixed chunks and an end mark), so a cut stream fails instead of looking complete.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.config.inventory import Node
from orchestrator.errors import ExecutionError
from orchestrator.remote.transport import Held, Result, Transport

TOKEN_ENV = "SPARKCTL_SYNC_TOKEN"
ACCEPT_WAIT = 60

# Runs on the target: listens on argv[1], announces "listen=PORT TOKEN" on fd 3, writes the payload to stdout.
RECEIVER = r"""
import hmac, os, secrets, socket, struct, sys, time
ip, wait = sys.argv[1], float(sys.argv[2])
token = secrets.token_hex(16).encode()
server = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
server.bind((ip, 0)); server.listen(4); server.settimeout(wait)
os.write(3, b"listen=%d %s\n" % (server.getsockname()[1], token))
def exactly(conn, size):
    data = bytearray(size); view, got = memoryview(data), 0
    while got < size:
        count = conn.recv_into(view[got:], size - got)
        if not count:
            raise SystemExit("sparkctl receiver: the stream was cut before its end")
        got += count
    return data
while True:
    conn, _ = server.accept(); conn.settimeout(wait)
    try:
        if hmac.compare_digest(bytes(exactly(conn, len(token) + 1)), token + b"\n"):
            break
    except (OSError, SystemExit):
        pass
    conn.close()
server.close()
out, total, shown = sys.stdout.buffer, 0, time.monotonic()
while size := struct.unpack(">I", exactly(conn, 4))[0]:
    out.write(exactly(conn, size)); total += size
    if time.monotonic() - shown > 2:
        os.write(3, b"progress=%d\n" % total); shown = time.monotonic()
out.flush(); conn.close()
os.write(3, b"received=%d\n" % total)
"""

# Runs on the source: connects to argv[1]:argv[2], sends the token from the environment, then stdin framed.
SENDER = r"""
import os, socket, struct, sys, time
try:
    conn = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
except OSError as exc:
    sys.exit(f"cannot reach {sys.argv[1]} port {sys.argv[2]} over the fabric: {exc}")
conn.settimeout(120)
conn.sendall(os.environ["SPARKCTL_SYNC_TOKEN"].encode() + b"\n")
started, total, source = time.monotonic(), 0, sys.stdin.buffer
while chunk := source.read(4 << 20):
    conn.sendall(struct.pack(">I", len(chunk))); conn.sendall(chunk); total += len(chunk)
conn.sendall(struct.pack(">I", 0)); conn.shutdown(socket.SHUT_WR)
while conn.recv(1 << 16):
    pass
print(f"sent_bytes={total}\nsent_seconds={time.monotonic() - started:.3f}")
"""


@dataclass(frozen=True)
class Transfer:
    """What one node-to-node stream moved."""

    source: str
    target: str
    bytes: int
    seconds: float

    @property
    def rate(self) -> str:
        """Bytes per second, human-readable."""
        return f"{human_bytes(self.bytes / max(self.seconds, 1e-6))}/s"


def human_bytes(count: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def relay(transport: Transport, source: Node, target: Node, scripts: Callable[[int], tuple[str, str]],
          timeout: float, progress: Callable[[int, float], None] = lambda _bytes, _seconds: None) -> Transfer:
    """Start the receive script on target, then the send script on source; scripts(port) -> (receive, send)."""
    receive, _ = scripts(0)
    held = transport.hold(target, receive, ACCEPT_WAIT)
    if held.channel is None:
        raise ExecutionError(f"sync to {target.name}: the receiver did not start: {_why(held.result)}")
    outcome: list[Result] = []
    try:
        port, token = _announced(held, target)
        _, send = scripts(port)
        waiter = threading.Thread(target=lambda: outcome.append(_finish(held, timeout, progress)), daemon=True)
        waiter.start()
        sent = transport.run(source, send, timeout, secrets={TOKEN_ENV: token})
        waiter.join(timeout if sent.ok else 0)
    finally:
        held.release()
    received = outcome[0] if outcome else Result(target.name, -1, "", "", timeout, True)
    if not sent.ok:
        raise ExecutionError(f"sync {source.name} -> {target.name}: the sender failed: {_why(sent)}")
    if not received.ok:
        raise ExecutionError(f"sync {source.name} -> {target.name}: the receiver failed: {_why(received)}")
    facts = sent.facts()
    return Transfer(source.name, target.name, int(facts.get("sent_bytes", 0)), float(facts.get("sent_seconds", 0)))


def _announced(held: Held, target: Node) -> tuple[int, str]:
    line = next((ln for ln in held.result.stdout.splitlines() if ln.startswith("listen=")), "")
    try:
        port, token = line.removeprefix("listen=").split()
        return int(port), token
    except ValueError:
        raise ExecutionError(f"sync to {target.name}: the receiver did not announce its port: "
                             f"{held.result.stdout.strip()!r}") from None


def _finish(held: Held, timeout: float, progress: Callable[[int, float], None]) -> Result:
    """Wait for the receiver to end, passing on its progress lines; its exit status and output."""
    channel, started = held.channel, time.monotonic()
    out, err = bytearray(), bytearray()
    while time.monotonic() - started < timeout:
        if channel.recv_ready():
            out += channel.recv(65536)
            _report(out, started, progress)
        elif channel.recv_stderr_ready():
            err += channel.recv_stderr(65536)
        elif channel.exit_status_ready():
            code = channel.recv_exit_status()
            return Result(held.node, code, out.decode(errors="replace"), err.decode(errors="replace"),
                          time.monotonic() - started)
        else:
            channel.status_event.wait(0.05)
    return Result(held.node, -1, out.decode(errors="replace"), err.decode(errors="replace"), timeout, True)


def _report(out: bytearray, started: float, progress: Callable[[int, float], None]) -> None:
    lines = [ln for ln in bytes(out).split(b"\n")[:-1] if ln.startswith(b"progress=")]
    if lines:
        progress(int(lines[-1].removeprefix(b"progress=")), time.monotonic() - started)
        del out[:bytes(out).rfind(b"\n") + 1]


def _why(result: Result) -> str:
    """The script's own last words: stderr before the error trap's echo of the (multi-line) command."""
    said = result.stderr.split("sparkctl: failed", 1)[0]
    lines = [ln for ln in said.splitlines() if ln.strip()]
    return "; ".join(lines[-4:]) or (f"timed out after {result.seconds:g}s" if result.timed_out
                                     else f"exit {result.exit_code}")
