"""Shared pytest fixtures: the simulated Spark cluster (tests/sim), one at a time per session."""

from __future__ import annotations

import atexit
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.sim import Cluster, SimError
from tests.sim.modelcache import seed_catalog

# SPARKCTL_SIM_DIR lets concurrent developer sessions keep their clusters apart (in separate net namespaces).
# Outside the checkout: nodes replace /tmp, /run and /root, where a clone may live.
SIM_DIR = Path(os.environ.get("SPARKCTL_SIM_DIR") or "/var/lib/sparkctl-sim/pytest")


class SimClusters:
    """Keeps at most one simulated cluster alive, recreating it when a test asks for another shape."""

    def __init__(self, root: Path) -> None:
        self.cluster = Cluster(root)
        self.shape: tuple | None = None

    def get(self, nodes: int = 2, docker: bool = True, **strictness) -> Cluster:
        """A healthy cluster of this shape: reused when already up, else (re)started.

        strictness: the simulator's options (rdma, ssh_user, port22_only; see tests/sim/options.py).
        """
        shape = (nodes, docker, tuple(sorted(strictness.items())))
        if self.shape == shape:
            self._make_healthy()
            return self.cluster
        self.close()
        try:
            self.cluster.up(nodes, docker=docker, owner_pid=os.getpid(), **strictness)
        except SimError as error:
            pytest.fail(f"the simulated Spark cluster could not start: {error}", pytrace=False)
        # As after `sparkctl models sync`: up refuses a model missing from a node's cache, as it must on a Spark.
        seed_catalog(self.cluster.nodes)
        self.shape = shape
        return self.cluster

    def _make_healthy(self) -> None:
        """Undo faults an earlier test left: boot killed nodes, heal cut links."""
        for node in self.cluster.nodes:
            self.cluster.heal(node)
            if not self.cluster.is_running(node):
                self.cluster.boot(node)

    def close(self) -> None:
        """Tear the cluster down if this session started one."""
        if self.shape is not None:
            self.shape = None
            self.cluster.down()


def _exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit so atexit tears the cluster down."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@pytest.fixture(scope="session")
def sim_clusters() -> Iterator[SimClusters]:
    """The session's keeper of the one simulated cluster; `.close()` frees the fixed subnets."""
    if os.geteuid() != 0:
        pytest.fail(
            "the simulated Spark cluster needs root (network namespaces, sshd, dockerd): run the integration tests as root",
            pytrace=False,
        )
    clusters = SimClusters(SIM_DIR)
    atexit.register(clusters.close)
    _exit_on_sigterm()
    try:
        yield clusters
    finally:
        clusters.close()


@pytest.fixture(scope="session")
def sim_cluster_factory(sim_clusters: SimClusters) -> Callable[..., Cluster]:
    """`factory(nodes=2, docker=True)` returns a running simulated cluster of that shape."""
    return sim_clusters.get


@pytest.fixture
def sim_cluster(request: pytest.FixtureRequest, sim_cluster_factory: Callable[..., Cluster]) -> Cluster:
    """A running, healthy simulated cluster (shared across tests); parametrize indirectly with
    {"nodes": N, "docker": bool}."""
    return sim_cluster_factory(**getattr(request, "param", {}))
