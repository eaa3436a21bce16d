"""How strict the simulated Sparks are: RDMA devices, the SSH user, the host's firewall."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass

from tests.sim.layout import SPARK_USER, ClusterLayout
from tests.sim.shell import SimError

USERS = ("root", SPARK_USER)


@dataclass(frozen=True)
class SimOptions:
    """Node-level strictness chosen at `up`, kept in `options.json` so `boot` rebuilds the same node."""

    # /dev/infiniband/uverbs* and /sys/class/infiniband with two ACTIVE RoCE devices.
    rdma: bool = True
    # "root", or "spark": uid 1000 in the docker group, sudo only for drop_caches.
    ssh_user: str = "root"
    # The workstation reaches nodes on TCP 22 only; nodes still reach each other on every port.
    port22_only: bool = False

    def check(self) -> SimOptions:
        """Refuse an SSH user the harness cannot create (or one that could not drop caches)."""
        if self.ssh_user not in USERS:
            raise SimError(f"unknown SSH user {self.ssh_user!r}: choose one of {', '.join(USERS)}")
        if self.ssh_user != "root" and not shutil.which("sudo"):
            raise SimError("a non-root SSH user needs sudo on this machine (drop_caches goes through 'sudo -n'): "
                           "apt-get install -y sudo")
        return self

    def save(self, layout: ClusterLayout) -> None:
        """Write the options next to state.json."""
        (layout.root / "options.json").write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, layout: ClusterLayout) -> SimOptions:
        """The options `up` recorded; the defaults for a cluster started before options existed."""
        try:
            return cls(**json.loads((layout.root / "options.json").read_text()))
        except (OSError, ValueError, TypeError):
            return cls()


DEFAULT_OPTIONS = SimOptions()
