"""Names, addresses and file paths of the simulated cluster; no side effects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_NODES = 64
MGMT_BRIDGE = "sbr0"
FABRIC_BRIDGE = "sfab0"
MGMT_PREFIX = "10.77.0"
FABRIC_PREFIX = "10.78.0"
MGMT_IF = "eth0"
FABRIC_IF = "enp1s0f1np1"
# A ConnectX-7 shows two RoCE devices for its connected port (one per PCIe half).
RDMA_DEVS = ("rocep1s0f1", "roceP2p1s0f1")
RDMA_DEV = RDMA_DEVS[0]
SPARK_USER = "spark"
SPARK_UID = 1000
NETNS_PREFIX = "sn"
NODE_MEM_TOTAL_KB = 128_450_000


class Net:
    """Which network a fault applies to."""

    MGMT = "mgmt"
    FABRIC = "fabric"
    BOTH = "both"
    CHOICES = (MGMT, FABRIC, BOTH)


@dataclass(frozen=True)
class NodeLayout:
    """Everything fixed about node `index` (1-based) of a cluster living in `root`."""

    index: int
    root: Path

    @property
    def name(self) -> str:
        return f"spark{self.index}"

    @property
    def netns(self) -> str:
        return f"{NETNS_PREFIX}{self.index}"

    @property
    def ip(self) -> str:
        return f"{MGMT_PREFIX}.{10 + self.index}"

    @property
    def fabric_ip(self) -> str:
        return f"{FABRIC_PREFIX}.{10 + self.index}"

    @property
    def mgmt_veth(self) -> str:
        return f"vsn{self.index}"

    @property
    def fabric_veth(self) -> str:
        return f"vfn{self.index}"

    @property
    def dir(self) -> Path:
        return self.root / "nodes" / self.name

    @property
    def home(self) -> Path:
        return self.dir / "root"

    @property
    def var_lib(self) -> Path:
        return self.dir / "var-lib-sparkctl"

    @property
    def sshd_config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def sshd_log(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    @property
    def dockerd_log(self) -> Path:
        return self.dir / "dockerd.log"

    @property
    def docker_data(self) -> Path:
        return self.dir / "docker-data"

    @property
    def docker_socket(self) -> Path:
        """A second dockerd socket, reachable from the host without entering the node."""
        return self.dir / "docker.sock"

    @property
    def drop_caches(self) -> Path:
        return self.dir / "drop_caches"

    @property
    def meminfo(self) -> Path:
        return self.dir / "meminfo"

    @property
    def cron_spool(self) -> Path:
        """Mounted over /var/spool/cron inside the node: its own crontabs."""
        return self.dir / "cron-spool"

    @property
    def boot_script(self) -> Path:
        return self.dir / "boot.sh"

    @property
    def rdma_sys(self) -> Path:
        """The prepared tree mounted over /sys/class/infiniband inside the node."""
        return self.dir / "sys-class-infiniband"

    @property
    def etc(self) -> Path:
        """Node-private copies of passwd, group, shadow, sudoers and hosts (non-root user mode)."""
        return self.dir / "etc"

    @property
    def homes(self) -> Path:
        """Mounted over /home inside the node."""
        return self.dir / "home"

    @property
    def stage(self) -> Path:
        """Mount point for the host's /dev and /sys/class while the node builds its own."""
        return self.dir / "stage"

    @property
    def mem_available_kb(self) -> int:
        """A distinct MemAvailable per node, so product output can be matched to its node."""
        return 118_000_000 + self.index * 123_457


@dataclass(frozen=True)
class ClusterLayout:
    """Files of a cluster directory."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yaml"

    @property
    def ssh_config(self) -> Path:
        return self.root / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def client_key(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    def node(self, index: int) -> NodeLayout:
        return NodeLayout(index, self.root)

    def nodes(self, count: int) -> list[NodeLayout]:
        return [self.node(i) for i in range(1, count + 1)]
