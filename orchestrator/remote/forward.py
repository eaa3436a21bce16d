"""A local port forwarded to a port on a node through that node's SSH connection (ssh -L, in-process)."""

from __future__ import annotations

import contextlib
import select
import socket
import threading

import paramiko

OPEN_TIMEOUT = 10.0
CHUNK = 65536


class Forwarder:
    """Listens on 127.0.0.1 (bound before it returns) and pipes each connection over a direct-tcpip channel.

    When the node refuses a channel (the server is gone), the local connection closes at once, as a refused port
    would: a client never waits on a connection nobody serves.
    """

    def __init__(self, transport: paramiko.Transport, remote_port: int, local_port: int = 0):
        self.transport, self.remote_port = transport, remote_port
        self.listener = socket.create_server(("127.0.0.1", local_port))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name=f"forward {self.port}").start()

    def close(self) -> None:
        """Stop accepting and end every piped connection."""
        self.stopped.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _address = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        with contextlib.closing(client):
            try:
                channel = self.transport.open_channel("direct-tcpip", ("127.0.0.1", self.remote_port),
                                                      client.getpeername(), timeout=OPEN_TIMEOUT)
            except (paramiko.SSHException, OSError, EOFError):
                return
            with contextlib.closing(channel):
                self._copy(client, channel)

    def _copy(self, client: socket.socket, channel: paramiko.Channel) -> None:
        while not self.stopped.is_set():
            readable, _, _ = select.select([client, channel], [], [], 0.5)
            for source, target in ((client, channel), (channel, client)):
                if source in readable:
                    data = source.recv(CHUNK)
                    if not data:
                        return
                    target.sendall(data)
