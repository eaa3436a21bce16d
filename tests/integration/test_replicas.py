"""`up replicas` behind a real LiteLLM proxy, through real SSH on the simulated cluster."""

from __future__ import annotations

import json
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from openai import OpenAI

from tests.integration.sparkctl_run import Sparkctl

RECIPE = "openai-gpt-oss-120b"
HITS = "/root/.cache/vllm/hits"
PROXY = "http://10.77.0.11:4000/v1"
REQUESTS = 16


@pytest.fixture
def replicas(sim_cluster_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SPARKCTL_PROXY_KEY", raising=False)
    cluster = sim_cluster_factory(nodes=2)
    spark = Sparkctl(cluster)
    spark.run("down", check=True)
    for node in cluster.nodes:
        _hits_file(node).unlink(missing_ok=True)
    yield cluster, spark
    spark.run("down")


def _hits_file(node) -> Path:
    return Path(node.home) / HITS.removeprefix("/root/")


def _hits(cluster) -> list[int]:
    return [len(_hits_file(n).read_text().splitlines()) if _hits_file(n).exists() else 0 for n in cluster.nodes]


def _status_without_key(url: str) -> int:
    body = json.dumps({"model": "openai/gpt-oss-120b", "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(f"{url}/chat/completions", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _inspect(cluster, node: int, container: str, field: str) -> str:
    return cluster.docker(node, ["inspect", "--format", "{{json " + field + "}}", container], check=True).stdout


def test_up_replicas_behind_litellm_spreads_requests_and_guards_the_key(replicas):
    cluster, spark = replicas
    started = time.monotonic()
    up = spark.run("up", "replicas", RECIPE, "-e", f"VLLM_STANDIN_HITS_FILE={HITS}", check=True, timeout=600)
    print(f"up replicas with the proxy took {time.monotonic() - started:.1f}s\n{up.stdout}")
    assert f"endpoint: {PROXY}" in up.stdout
    key_file = Path(spark.env()["XDG_CONFIG_HOME"]) / "sparkctl" / "proxy-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = spark.run("status", "--show-key", check=True).stdout.strip()
    assert key == key_file.read_text().strip() and key.startswith("sk-")

    before = _hits(cluster)
    client = OpenAI(base_url=PROXY, api_key=key, timeout=60, max_retries=0)
    for _ in range(REQUESTS):
        reply = client.chat.completions.create(model="openai/gpt-oss-120b", messages=[{"role": "user", "content": "hi"}],
                                               max_tokens=4)
        assert reply.choices[0].message.content
    split = [after - b for after, b in zip(_hits(cluster), before, strict=True)]
    print(f"{REQUESTS} requests through the proxy split {split} over spark1, spark2")
    assert all(count > 0 for count in split) and sum(split) >= REQUESTS

    refused_before = _hits(cluster)
    assert _status_without_key(PROXY) >= 400
    assert [_status_without_key(f"http://10.77.0.1{n}:8000/v1") for n in (1, 2)] == [401, 401], "backends bypass the key"
    assert _hits(cluster) == refused_before

    plan = spark.run("--json", "plan", "replicas", RECIPE, check=True).stdout
    assert key not in plan and json.loads(plan)["secrets"]["LITELLM_MASTER_KEY"] == "***"
    for field in (".Args", ".Path", ".Config.Cmd", ".Config.Entrypoint", ".Config.Labels"):
        assert key not in _inspect(cluster, 1, "sparkctl-proxy", field)
    assert f"LITELLM_MASTER_KEY={key}" in _inspect(cluster, 1, "sparkctl-proxy", ".Config.Env")
    assert key not in _inspect(cluster, 1, "sparkctl-vllm", ".Config.Env")
    assert key not in up.stdout + up.stderr

    rows = json.loads(spark.run("--json", "status", check=True).stdout)
    assert sorted((r["node"], r["role"], r["health"]) for r in rows) == [
        ("spark1", "proxy", "ready"), ("spark1", "replica", "ready"), ("spark2", "replica", "ready")]
    backends = next(r["backends"] for r in rows if r["role"] == "proxy")
    assert backends == "http://10.77.0.11:8000/v1 ready, http://10.77.0.12:8000/v1 ready"
    assert "already up" in spark.run("up", "replicas", RECIPE, "-e", f"VLLM_STANDIN_HITS_FILE={HITS}",
                                     check=True).stdout

    spark.run("down", check=True)
    assert spark.no_containers_anywhere()


def test_a_replica_crashing_while_it_loads_fails_up_replicas_at_once(replicas):
    _cluster, spark = replicas
    started = time.monotonic()
    failed = spark.run("up", "replicas", RECIPE, "-e", "VLLM_STANDIN_FAULT=crash-during-load", timeout=300)
    took = time.monotonic() - started
    print(f"up replicas with a replica crashing during load failed after {took:.1f}s (readiness deadline 1200 s)")
    assert failed.returncode == 5 and "phase readiness failed on spark" in failed.stderr, failed.stderr
    assert "rolled back" in failed.stderr and spark.no_containers_anywhere()
    assert took < 60, "the first replica that fails ends the readiness phase for all"
