"""The files a cluster directory holds: keys, sshd and client configs, inventory, per-node stand-ins."""

from __future__ import annotations

import re
import resource
from pathlib import Path

import yaml

from tests.sim import scheduler, strict
from tests.sim.layout import FABRIC_IF, NODE_MEM_TOTAL_KB, RDMA_DEVS, ClusterLayout, NodeLayout
from tests.sim.options import DEFAULT_OPTIONS, SimOptions
from tests.sim.shell import run

# /usr/bin first: /usr/local/bin may hold a docker client newer than the node's dockerd.
NODE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin"

SSHD_CONFIG = """\
Port 22
ListenAddress 0.0.0.0
HostKey {host_key}
PidFile none
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
MaxStartups 256:30:512
MaxSessions 64
LogLevel VERBOSE
SetEnv PATH={path}
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
"""

DOTFILE = """\
# minimal shell setup of a simulated Spark node
export PATH={path}
"""


def generate_key(path: Path, comment: str) -> None:
    """Create an ed25519 key pair at `path` unless it exists."""
    if not path.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def public_key(path: Path) -> str:
    """The public half of the key pair at `path`, as one line."""
    return Path(f"{path}.pub").read_text().strip()


def node_path(bin_dir: Path | None) -> str:
    """The PATH of an SSH session on a node: the system's, then the harness's nvidia hook (as on a Spark)."""
    return f"{NODE_PATH}:{bin_dir}" if bin_dir else NODE_PATH


def write_node_files(node: NodeLayout, client_key: Path, options: SimOptions = DEFAULT_OPTIONS,
                     bin_dir: Path | None = None) -> None:
    """Create the node's home, sshd config, host key and /proc stand-ins (kept across reboots)."""
    for directory in (node.home / ".ssh", node.var_lib, node.docker_data):
        directory.mkdir(parents=True, exist_ok=True)
    (node.home / ".ssh" / "authorized_keys").write_text(public_key(client_key) + "\n")
    dotfile = DOTFILE.format(path=node_path(bin_dir))
    for name in (".bashrc", ".profile"):
        (node.home / name).write_text(dotfile)
    generate_key(node.host_key, f"root@{node.name}")
    node.sshd_config.write_text(SSHD_CONFIG.format(host_key=node.host_key, path=node_path(bin_dir)))
    strict.write_files(node, options, public_key(client_key), dotfile)
    scheduler.write_files(node)
    node.drop_caches.write_text("0\n")
    node.meminfo.write_text(node_meminfo(Path("/proc/meminfo").read_text(), node.mem_available_kb))


def node_meminfo(host_meminfo: str, available_kb: int) -> str:
    """The host's /proc/meminfo with a Spark's 128 GB total and the node's own MemAvailable."""
    values = {
        "MemTotal": NODE_MEM_TOTAL_KB,
        "MemAvailable": available_kb,
        "MemFree": available_kb - 2_000_000,
    }
    for key, kb in values.items():
        host_meminfo = re.sub(rf"^{key}:\s+\d+ kB$", f"{key}:{kb:>16} kB", host_meminfo, flags=re.M)
    return host_meminfo


def write_client_files(cluster: ClusterLayout, nodes: list[NodeLayout], options: SimOptions = DEFAULT_OPTIONS) -> None:
    """Write known_hosts, ssh_config and inventory.yaml for the client side."""
    cluster.known_hosts.write_text("".join(known_hosts_line(node) for node in nodes))
    cluster.ssh_config.write_text(ssh_config(cluster, nodes))
    cluster.inventory.write_text(inventory(cluster, nodes, options))


def known_hosts_line(node: NodeLayout) -> str:
    """One known_hosts line pinning the node's host key under its name and both addresses."""
    key_type, key = public_key(node.host_key).split()[:2]
    return f"{node.name},{node.ip},{node.fabric_ip} {key_type} {key}\n"


def ssh_config(cluster: ClusterLayout, nodes: list[NodeLayout]) -> str:
    """An ssh_config for reaching every node by name or by management address."""
    common = (
        f"  User root\n  IdentityFile {cluster.client_key}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {cluster.known_hosts}\n  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n  ConnectTimeout 5\n  LogLevel ERROR\n"
    )
    blocks = [f"Host {node.name}\n  HostName {node.ip}\n{common}" for node in nodes]
    blocks.append(f"Host 10.77.0.* 10.78.0.*\n{common}")
    return "# simulated Spark cluster (tests/sim)\n" + "\n".join(blocks)


def sandbox_ulimits() -> dict[str, str]:
    """Container ulimits this machine allows: Spark's unlimited memlock is above the hard limit here."""
    limits = {}
    for name, kind in (("memlock", resource.RLIMIT_MEMLOCK), ("nofile", resource.RLIMIT_NOFILE)):
        hard = resource.getrlimit(kind)[1]
        limits[name] = "-1" if hard == resource.RLIM_INFINITY else str(hard)
    return limits


def rdma_field(devices: tuple[str, ...]) -> str:
    """The inventory's rdma_dev: every active RoCE device as a comma list, as on a ConnectX-7."""
    return ",".join(devices)


def inventory(cluster: ClusterLayout, nodes: list[NodeLayout], options: SimOptions = DEFAULT_OPTIONS) -> str:
    """sparkctl's inventory.yaml describing the simulated nodes."""
    rdma = {"rdma_dev": rdma_field(RDMA_DEVS)} if options.rdma else {}
    document = {
        "defaults": {
            "user": options.ssh_user,
            "ssh_key": str(cluster.client_key),
            "known_hosts": str(cluster.known_hosts),
            # This sandbox cannot raise RLIMIT_MEMLOCK/NOFILE (no CAP_SYS_RESOURCE): stay within the hard limits.
            "ulimits": sandbox_ulimits(),
        },
        "nodes": [
            {
                "name": n.name,
                "ip": n.ip,
                "fabric_ip": n.fabric_ip,
                "fabric_if": FABRIC_IF,
                **rdma,
            }
            for n in nodes
        ],
    }
    return "# simulated Spark cluster (tests/sim)\n" + yaml.safe_dump(document, sort_keys=False)


def write_fake_nvidia_hook(bin_dir: Path) -> None:
    """A stand-in for nvidia-container-runtime-hook so that `docker run --gpus all` is accepted."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    hook = bin_dir / "nvidia-container-runtime-hook"
    hook.write_text("#!/bin/sh\n# simulated: no GPU to wire up\ncat >/dev/null\nexit 0\n")
    hook.chmod(0o755)
