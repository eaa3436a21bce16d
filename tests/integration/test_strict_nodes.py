"""Sparks as users have them: a non-root SSH user with sudo only for drop_caches, and only port 22 reachable
from the workstation. up, status, bench, tunnel, drop-caches and down all work through SSH alone."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from tests.integration.benchenv import bench_sparkctl
from tests.integration.sparkctl_run import stop, wait_for

CLUSTER_RECIPE = "openai-gpt-oss-120b-cluster"


@pytest.fixture
def strict(sim_cluster_factory, tmp_path):
    spark, tokenizer = bench_sparkctl(sim_cluster_factory(nodes=2, ssh_user="spark", port22_only=True), tmp_path)
    spark.run("down", check=True)
    yield spark, tokenizer
    spark.run("down")


def _reachable(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=2):
            return True
    except OSError:
        return False


def test_a_non_root_user_behind_a_firewall_runs_the_whole_job(strict):
    spark, tokenizer = strict
    assert "user: spark" in spark.cluster.inventory_path.read_text()
    spark.run("up", "cluster", CLUSTER_RECIPE, check=True, timeout=600)
    assert _reachable("10.77.0.11", 22) and not _reachable("10.77.0.11", 8000), "the firewall is not in place"

    rows = json.loads(spark.run("--json", "status", check=True).stdout)
    assert [row["health"] for row in rows if row["role"] == "head"] == ["ready"]

    result = spark.run("--json", "bench", "--pp", "256", "--tg", "8", "--concurrency", "1", "--runs", "1",
                       "--tokenizer", str(tokenizer), timeout=600, check=True)
    stored = json.loads(result.stdout)
    assert stored["status"] == "complete", stored

    tunnel = spark.start("tunnel", "--local-port", "18123", "--seconds", "60")
    try:
        assert wait_for(lambda: _reachable("127.0.0.1", 18123), 30)
        key = spark.run("status", "--show-key", check=True).stdout.strip()
        request = urllib.request.Request("http://127.0.0.1:18123/v1/models", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["data"][0]["id"] == "openai/gpt-oss-120b"
    finally:
        tunnel.kill()
        stop(tunnel)

    for node in spark.cluster.nodes:
        node.drop_caches.write_text("0\n")
    drops = json.loads(spark.run("--json", "drop-caches", "--all", check=True).stdout)
    assert sorted(drops) == ["spark1", "spark2"]
    for node in spark.cluster.nodes:
        assert node.drop_caches.read_text().strip() == "3"
    spark.run("down", check=True)
    assert spark.no_containers_anywhere()
