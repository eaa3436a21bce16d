"""Deployments survive crashes and reboots by themselves (docker's restart policy, the cluster's entry scripts):
after the serve process dies, or a node is killed and booted again, each topology serves again within a bound,
without sparkctl, and `status` says which container restarted and when."""

from __future__ import annotations

import json
import time

from openai import OpenAI

from tests.integration.sparkctl_run import Sparkctl, wait_for
from tests.integration.test_up_down import spark_key

SOLO, CLUSTER, MP = "openai-gpt-oss-120b", "openai-gpt-oss-120b-cluster", "qwen3-30b-a3b-instruct-fp8"
SERVED, MP_SERVED = "openai/gpt-oss-120b", "qwen3-30b-a3b"
NODE1, NODE2 = "http://10.77.0.11", "http://10.77.0.12"
# Generous: the CI box is a loaded 2-core machine; measured recoveries print below (pytest -s).
BACK_WITHIN = 150.0


def serves(endpoint: str, model: str, key: str) -> bool:
    """Whether the endpoint answers a completion right now."""
    try:
        client = OpenAI(base_url=endpoint, api_key=key, timeout=10, max_retries=0)
        return bool(client.completions.create(model=model, prompt="hi", max_tokens=1).choices)
    except Exception:  # noqa: BLE001 - any failure means "not serving yet"
        return False


def back(spark: Sparkctl, what: str, endpoints: list[str], model: str, key: str) -> float:
    """Wait (bounded) until every endpoint serves again; the seconds it took."""
    started = time.monotonic()
    assert wait_for(lambda: all(serves(e, model, key) for e in endpoints), BACK_WITHIN, interval=1), \
        f"not serving {BACK_WITHIN:g}s after {what}:\n{spark.run('logs', '--tail', '30').stdout}"
    took = time.monotonic() - started
    print(f"back {took:.1f}s after {what}")
    return took


def rows(spark: Sparkctl) -> dict[tuple[str, str], dict]:
    """`status --json` rows by (node, role)."""
    return {(r["node"], r["role"]): r for r in json.loads(spark.run("--json", "status", check=True).stdout)}


def assert_restarted(spark: Sparkctl, *where: tuple[str, str], by_policy: bool | None = None) -> dict:
    """status names these containers as restarted, and when (by_policy: docker counted the restart); the rows."""
    shown = rows(spark)
    for key in where:
        row = shown[key]
        assert row["container"] == "running" and row["restarted"].startswith("20"), row
        assert by_policy is None or ("(restarts: " in row["restarted"]) is by_policy, row
    return shown


def test_solo_comes_back_after_its_server_dies_and_after_a_reboot(spark: Sparkctl):
    spark.run("up", "solo", SOLO, check=True)
    key, cluster = spark_key(spark), spark.cluster
    assert rows(spark)[("spark1", "solo")]["restarted"] == ""
    cluster.kill_serve(1)
    back(spark, "solo: the serve process died", [f"{NODE1}:8000/v1"], SERVED, key)
    assert_restarted(spark, ("spark1", "solo"), by_policy=True)
    # Real dockerd on the node: a container without a policy stays down after a reboot; sparkctl's comes back.
    cluster.docker(1, ["run", "-d", "--name", "no-policy", "--entrypoint", "sleep", "sim-busybox", "1000"], check=True)
    cluster.kill(1)
    cluster.boot(1)
    back(spark, "solo: its node was killed and booted", [f"{NODE1}:8000/v1"], SERVED, key)
    assert_restarted(spark, ("spark1", "solo"))
    left = cluster.docker(1, ["inspect", "--format", "{{.State.Status}}", "no-policy"], check=True).stdout.strip()
    cluster.docker(1, ["rm", "-f", "no-policy"], check=True)
    assert left == "exited", "the simulated node's docker restarted a container that has no restart policy"
    spark.run("down", check=True)
    assert spark.no_containers_anywhere(), "down removes containers that have a restart policy for good"


def test_replicas_and_their_proxy_come_back_after_a_reboot_and_a_server_death(spark: Sparkctl):
    spark.run("up", "replicas", SOLO, check=True, timeout=400)
    key, cluster = spark.run("status", "--show-key", check=True).stdout.strip(), spark.cluster
    # Both at once, one wait: the proxy's node (with a replica) reboots while replica 2's server dies.
    cluster.kill(1)
    cluster.kill_serve(2)
    cluster.boot(1)
    back(spark, "replicas: node 1 (proxy, replica) rebooted, replica 2's server died", [f"{NODE1}:4000/v1"],
         SERVED, key)
    every_replica = lambda: {r["health"] for k, r in rows(spark).items() if k[1] == "replica"} == {"ready"}  # noqa: E731
    assert wait_for(every_replica, BACK_WITHIN, interval=2), f"a replica is not ready again: {rows(spark)}"
    assert_restarted(spark, ("spark1", "proxy"), ("spark1", "replica"))
    assert_restarted(spark, ("spark2", "replica"), by_policy=True)


def test_ray_cluster_reforms_after_the_head_server_dies_while_the_worker_reboots(spark: Sparkctl):
    spark.run("up", "cluster", CLUSTER, check=True, timeout=400)
    key, cluster = spark_key(spark), spark.cluster
    # Both at once, one wait: vllm serve dies on the head (docker restarts the head, which starts Ray again and
    # waits for its worker) while the worker's node reboots (its docker restores the worker, which joins the head).
    cluster.kill(2)
    cluster.kill_serve(1)
    cluster.boot(2)
    back(spark, "ray cluster: vllm serve died on the head, the worker's node rebooted", [f"{NODE1}:8000/v1"],
         SERVED, key)
    assert_restarted(spark, ("spark1", "head"), by_policy=True)
    assert_restarted(spark, ("spark2", "worker"))
    # The worker's own watch: the head going away makes it leave, so that it joins the head's next cluster.
    cluster.kill_serve(1)
    back(spark, "ray cluster: vllm serve died on the head again", [f"{NODE1}:8000/v1"], SERVED, key)
    worker_log = cluster.docker(2, ["logs", "sparkctl-vllm"], check=True)
    assert "went away; leaving so that this worker joins it again" in worker_log.stdout + worker_log.stderr
    assert_restarted(spark, ("spark2", "worker"), by_policy=True)


def test_mp_cluster_reforms_after_the_head_node_reboots(spark: Sparkctl):
    spark.run("up", "cluster", MP, "--set", "tensor-parallel-size=2", "--backend", "mp", check=True, timeout=400)
    key, cluster = spark_key(spark), spark.cluster
    cluster.kill(1)
    cluster.boot(1)
    back(spark, "mp cluster: the head's node was killed and booted", [f"{NODE1}:8000/v1"], MP_SERVED, key)
    assert_restarted(spark, ("spark1", "head"))
    assert rows(spark)[("spark2", "worker")]["restarted"], "the rank on the worker re-joined the new head"
