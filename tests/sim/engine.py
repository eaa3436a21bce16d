"""One real dockerd per node: its start-up lines, readiness probe and image loading."""

from __future__ import annotations

import http.client
import shlex
import socket
from pathlib import Path

from tests.sim.files import NODE_PATH
from tests.sim.layout import ClusterLayout, NodeLayout

HOST_DOCKER = "/usr/bin/docker"


def dockerd_lines(node: NodeLayout, cluster: ClusterLayout) -> list[str]:
    """Boot-script lines starting the node's dockerd in the background on its default socket."""
    q = shlex.quote
    config = cluster.root / "daemon.json"
    flags = [
        f"--config-file {q(str(config))}",
        f"--data-root {q(str(node.docker_data))}",
        "--exec-root /run/docker",
        "-H unix:///run/docker.sock",
        f"-H unix://{q(str(node.docker_socket))}",
        "--bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false",
    ]
    return [
        f"rm -f {q(str(node.docker_socket))}",
        f"PATH={q(str(cluster.bin_dir))}:{NODE_PATH} /usr/sbin/dockerd {' '.join(flags)} >>{q(str(node.dockerd_log))} 2>&1 &",
    ]


def write_daemon_config(cluster: ClusterLayout) -> None:
    """An empty daemon.json of our own, so a host /etc/docker/daemon.json cannot leak in."""
    (cluster.root / "daemon.json").write_text("{}\n")


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket, to ask dockerd whether it is up without a client binary."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=1.0)
        self.socket_path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(1.0)
        self.sock.connect(self.socket_path)


def ping(node: NodeLayout) -> bool:
    """Whether the node's dockerd answers /_ping right now."""
    return ping_socket(node.docker_socket)


def ping_socket(path: Path) -> bool:
    """Whether a dockerd answers /_ping on this unix socket right now."""
    if not path.exists():
        return False
    connection = _UnixHTTPConnection(path)
    try:
        connection.request("GET", "/_ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def docker_argv(node: NodeLayout, *args: str) -> list[str]:
    """A host command line running `docker args...` against the node's engine."""
    return [HOST_DOCKER, "-H", f"unix://{node.docker_socket}", *args]
