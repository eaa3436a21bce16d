"""A simulated DGX Spark cluster: network namespaces with sshd and a real dockerd each."""

from tests.sim.cluster import Cluster, SimError

__all__ = ["Cluster", "SimError"]
