"""Fixtures for driving the real sparkctl CLI against the simulated cluster."""

from __future__ import annotations

import pytest

from tests.integration.sparkctl_run import Sparkctl


@pytest.fixture
def spark(sim_cluster_factory):
    """sparkctl on a healthy 2-node cluster, with nothing of sparkctl running before or after."""
    cluster = sim_cluster_factory(nodes=2)
    runner = Sparkctl(cluster)
    runner.run("down", check=True)
    yield runner
    for node in cluster.nodes:
        cluster.heal(node)
    runner.run("down")
