"""up, status, idempotency, replace and down through real SSH on the simulated cluster."""

from __future__ import annotations

import json
import signal
import time

import pytest
from openai import APIStatusError, OpenAI

from tests.integration.sparkctl_run import Sparkctl, accepted_connections, stop, wait_for

CLUSTER_RECIPE = "openai-gpt-oss-120b-cluster"


def ray_members(cluster) -> list:
    probe = ('import json, ray; ray.init(address="auto", logging_level="ERROR"); '
             'print(json.dumps([[n["NodeManagerAddress"], n["Alive"], n["Resources"].get("GPU", 0)] for n in ray.nodes()]))')
    result = cluster.docker(1, ["exec", "sparkctl-vllm", "python3", "-c", probe], check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def answer(endpoint: str, model: str, key: str) -> str:
    client = OpenAI(base_url=endpoint, api_key=key, timeout=30, max_retries=0)
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    return reply.choices[0].message.content


def spark_key(spark) -> str:
    """The API key the deployment checks, as a user gets it."""
    return spark.run("status", "--show-key", check=True).stdout.strip()


def refused_without_key(endpoint: str) -> int:
    """The HTTP status of a completion sent without the key."""
    try:
        OpenAI(base_url=endpoint, api_key="wrong", timeout=30, max_retries=0).completions.create(
            model="openai/gpt-oss-120b", prompt="hi", max_tokens=1)
    except APIStatusError as error:
        return error.status_code
    return 200


def test_up_cluster_serves_on_fabric_and_down_removes_everything(spark):
    cluster = spark.cluster
    before = accepted_connections(cluster)
    result = spark.run("up", "cluster", CLUSTER_RECIPE, check=True)
    after = accepted_connections(cluster)
    assert {name: after[name] - before[name] for name in after} == {"spark1": 1, "spark2": 1}
    assert "endpoint: http://10.77.0.11:8000/v1" in result.stdout
    alive = sorted(ip for ip, is_alive, gpus in ray_members(cluster) if is_alive and gpus == 1)
    assert alive == ["10.78.0.11", "10.78.0.12"]
    assert answer("http://10.77.0.11:8000/v1", "openai/gpt-oss-120b", spark_key(spark))
    assert refused_without_key("http://10.77.0.11:8000/v1") == 401
    status = json.loads(spark.run("--json", "status", check=True).stdout)
    assert {(row["node"], row["role"], row["container"]) for row in status} == {
        ("spark1", "head", "running"), ("spark2", "worker", "running")}
    assert [row["health"] for row in status if row["role"] == "head"] == ["ready"]
    spark.run("down", check=True)
    assert spark.no_containers_anywhere()


def test_up_again_changes_nothing_and_replace_switches(spark):
    spark.run("up", "cluster", CLUSTER_RECIPE, check=True)
    started = spark.containers(1)
    again = spark.run("up", "cluster", CLUSTER_RECIPE, check=True)
    assert "already up" in again.stdout
    refused = spark.run("up", "solo", "openai-gpt-oss-120b")
    assert refused.returncode != 0 and "--replace" in refused.stderr
    assert spark.containers(1) == started
    spark.run("up", "solo", "openai-gpt-oss-120b", "--replace", check=True)
    status = json.loads(spark.run("--json", "status", check=True).stdout)
    assert [(row["node"], row["role"], row["recipe"]) for row in status] == [("spark1", "solo", "openai-gpt-oss-120b")]
    assert answer("http://10.77.0.11:8000/v1", "openai/gpt-oss-120b", spark_key(spark))


def test_drop_caches_all_lands_on_every_node(spark):
    cluster = spark.cluster
    for node in cluster.nodes:
        node.drop_caches.write_text("0\n")
    result = spark.run("--json", "drop-caches", "--all", check=True)
    assert all(node.drop_caches.read_text().strip() == "3" for node in cluster.nodes)
    facts = json.loads(result.stdout)
    assert set(facts) == {"spark1", "spark2"}
    assert all(int(f["mem_available_kb_after"]) > 0 for f in facts.values())


def test_down_is_idempotent(spark):
    first = spark.run("down", check=True)
    second = spark.run("down", check=True)
    assert "removed 0" in first.stdout and "removed 0" in second.stdout


@pytest.mark.parametrize("sim_cluster", [{"nodes": 4}], indirect=True)
def test_up_cluster_on_four_nodes_tp2_pp2_over_ray(sim_cluster):
    spark = Sparkctl(sim_cluster)
    spark.run("down", check=True)
    try:
        spark.run("up", "cluster", CLUSTER_RECIPE, "--set", "tensor-parallel-size=2", "--set", "pipeline-parallel-size=2",
                  check=True, timeout=400)
        alive = sorted(ip for ip, is_alive, _gpus in ray_members(sim_cluster) if is_alive)
        assert alive == [f"10.78.0.{10 + i}" for i in range(1, 5)]
        assert answer("http://10.77.0.11:8000/v1", "openai/gpt-oss-120b", spark_key(spark))
        status = json.loads(spark.run("--json", "status", check=True).stdout)
        assert sorted(row["role"] for row in status) == ["head", "worker", "worker", "worker"]
    finally:
        spark.run("down", check=True)
    assert spark.no_containers_anywhere()


def test_logs_are_node_prefixed_and_follow_detaches_on_ctrl_c(spark):
    spark.run("up", "solo", "openai-gpt-oss-120b", check=True)
    shown = spark.run("logs", "--tail", "20", check=True).stdout
    assert "spark1 | vllm | " in shown and "Starting vLLM API server" in shown
    assert "spark2 | (no sparkctl container on this node)" in shown
    follow = spark.start("logs", "-f", "--node", "spark1")
    try:
        assert wait_for(lambda: answer("http://10.77.0.11:8000/v1", "openai/gpt-oss-120b", spark_key(spark)) is not None, 30)
        time.sleep(1)
        follow.send_signal(signal.SIGINT)
        out, err = stop(follow, timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
    assert follow.returncode == 0, err
    assert "spark1 | vllm | " in out and "detached" in err
    assert spark.containers(1), "detaching must leave the container running"


# Last in the file (and the last cluster of the run): an 8-node cluster is costly to start and to replace.
@pytest.mark.parametrize("sim_cluster", [{"nodes": 8}], indirect=True)
@pytest.mark.parametrize("backend", ["ray", "mp"])
def test_eight_sparks_serve_tp8_on_both_backends(sim_cluster, backend):
    spark = Sparkctl(sim_cluster)
    spark.run("down", check=True)
    try:
        result = spark.run("up", "cluster", "qwen3-30b-a3b-instruct-fp8", "--backend", backend,
                           "--set", "tensor-parallel-size=8", check=True, timeout=600)
        assert f".cluster{'-mp' if backend == 'mp' else ''}." in result.stdout
        rows = json.loads(spark.run("--json", "status", check=True).stdout)
        assert sorted((r["role"], r["health"]) for r in rows) == [("head", "ready")] + [("worker", "-")] * 7
        assert answer("http://10.77.0.11:8000/v1", "qwen3-30b-a3b", spark_key(spark))
    finally:
        spark.run("down", check=True)
    assert spark.no_containers_anywhere()
