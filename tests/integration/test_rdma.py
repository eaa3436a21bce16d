"""RDMA reaches a cluster's containers or NCCL silently uses TCP sockets: the stand-in logs NCCL's own kind of
line for each transport and decodes several times slower over sockets, as a real Spark pair would."""

from __future__ import annotations

import time

import yaml
from openai import OpenAI

from tests.integration.sparkctl_run import Sparkctl
from tests.integration.test_up_down import spark_key

CLUSTER_RECIPE = "openai-gpt-oss-120b-cluster"


def _decode_seconds(spark: Sparkctl, tokens: int = 40) -> float:
    client = OpenAI(base_url="http://10.77.0.11:8000/v1", api_key=spark_key(spark), timeout=60, max_retries=0)
    started = time.monotonic()
    client.completions.create(model="openai/gpt-oss-120b", prompt="hi", max_tokens=tokens)
    return time.monotonic() - started


def _head_log(spark: Sparkctl) -> str:
    logs = spark.cluster.docker(1, ["logs", "sparkctl-vllm"], check=True)
    return logs.stdout + logs.stderr


def test_rdma_passed_through_uses_roce_and_without_it_nccl_falls_back_to_sockets(spark: Sparkctl, tmp_path):
    spark.run("up", "cluster", CLUSTER_RECIPE, check=True, timeout=400)
    assert "NCCL INFO NET/IB : Using [0]rocep1s0f1:1/RoCE, [1]roceP2p1s0f1:1/RoCE" in _head_log(spark)
    over_roce = _decode_seconds(spark)
    spark.run("down", check=True)

    inventory = yaml.safe_load(spark.cluster.inventory_path.read_text())
    inventory["defaults"]["rdma"] = "off"
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    no_rdma = spark.run("-i", str(tmp_path / "inventory.yaml"), "up", "cluster", CLUSTER_RECIPE, check=True, timeout=400)
    assert "NCCL talks over TCP sockets" in no_rdma.stderr
    assert "NCCL INFO NET/Socket : Using [0]enp1s0f1np1" in _head_log(spark)
    over_sockets = _decode_seconds(spark)
    print(f"40 tokens: {over_roce:.2f}s over RoCE, {over_sockets:.2f}s over sockets")
    assert over_sockets > 2 * over_roce
    spark.run("-i", str(tmp_path / "inventory.yaml"), "down", check=True)
