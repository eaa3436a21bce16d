"""vLLM's own multi-node launch (`--backend mp`, no Ray) through real SSH: ranks rendezvous on the head's master
port over the fabric; a rank that never joins fails the gate naming it, and nothing is left running."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.sparkctl_run import Sparkctl
from tests.integration.test_up_down import answer, spark_key

# vLLM's own multi-node launch exists in current vLLM (vllm-node follows 0.33), not in the MXFP4 fork (0.10.2).
MP_RECIPE = "qwen3-30b-a3b-instruct-fp8"
TP2 = ("--set", "tensor-parallel-size=2")
SERVED = "qwen3-30b-a3b"


def test_up_cluster_mp_serves_and_down_removes_it(spark: Sparkctl):
    result = spark.run("up", "cluster", MP_RECIPE, *TP2, "--backend", "mp", check=True, timeout=400)
    assert ".cluster-mp." in result.stdout
    rows = json.loads(spark.run("--json", "status", check=True).stdout)
    assert sorted((r["node"], r["role"], r["health"]) for r in rows) == [("spark1", "head", "ready"),
                                                                       ("spark2", "worker", "-")]
    worker_log = spark.cluster.docker(2, ["logs", "sparkctl-vllm"], check=True)
    assert "joined the head at 10.78.0.11:29501" in worker_log.stdout + worker_log.stderr, "ranks meet on the fabric"
    assert answer("http://10.77.0.11:8000/v1", SERVED, spark_key(spark))
    assert "already up" in spark.run("up", "cluster", MP_RECIPE, *TP2, "--backend", "mp", check=True).stdout
    spark.run("down", check=True)
    assert spark.no_containers_anywhere()


def test_a_rank_that_never_joins_fails_the_gate_naming_it(spark: Sparkctl):
    spark.cluster.cut(2, net="fabric")
    result = spark.run("up", "cluster", MP_RECIPE, *TP2, "--backend", "mp", "--ray-timeout", "15", timeout=300)
    assert result.returncode != 0
    assert "phase rank-gate failed on spark1" in result.stderr and "10.78.0.12" in result.stderr, result.stderr
    assert "rolled back" in result.stderr
    assert spark.no_containers_anywhere()


@pytest.mark.parametrize("sim_cluster", [{"nodes": 4}], indirect=True)
def test_four_sparks_tp2_pp2_without_ray(sim_cluster):
    spark = Sparkctl(sim_cluster)
    spark.run("down", check=True)
    try:
        spark.run("up", "cluster", MP_RECIPE, "--backend", "mp", "--set", "tensor-parallel-size=2",
                  "--set", "pipeline-parallel-size=2", check=True, timeout=400)
        rows = json.loads(spark.run("--json", "status", check=True).stdout)
        assert sorted(r["role"] for r in rows) == ["head", "worker", "worker", "worker"]
        assert answer("http://10.77.0.11:8000/v1", SERVED, spark_key(spark))
    finally:
        spark.run("down", check=True)
    assert spark.no_containers_anywhere()


def test_mp_on_an_image_whose_vllm_lacks_it_is_refused_in_preflight(spark: Sparkctl):
    started = time.monotonic()
    result = spark.run("up", "cluster", "openai-gpt-oss-120b-cluster", "--backend", "mp", timeout=120)
    assert result.returncode == 2, result.stderr
    assert "the vLLM in image vllm-node-mxfp4 has no --nnodes" in result.stderr
    assert time.monotonic() - started < 30 and spark.no_containers_anywhere()
