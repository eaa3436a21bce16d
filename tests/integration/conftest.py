"""Fixtures for driving the real sparkctl CLI against the simulated cluster."""

from __future__ import annotations

import pytest

from tests.integration.benchenv import bench_sparkctl
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


@pytest.fixture
def bench_env(sim_cluster_factory, tmp_path):
    """sparkctl on a healthy 2-node cluster, set up to benchmark offline; (runner, tokenizer dir)."""
    spark, tokenizer = bench_sparkctl(sim_cluster_factory(nodes=2), tmp_path)
    spark.run("down", check=True)
    yield spark, tokenizer
    spark.run("down")
