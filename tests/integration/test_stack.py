"""`sparkctl apply` through real SSH on 3 simulated Sparks: a 2-node cluster plus two solo deployments sharing the
third node. The tests run in file order on one applied stack (each apply is costly): converge, change, fail, refuse."""

from __future__ import annotations

import json
import threading

import pytest
from openai import OpenAI

from tests.integration.benchenv import bench_sparkctl
from tests.integration.sparkctl_run import Sparkctl

CODER = ("http://10.77.0.11:8000/v1", "openai/gpt-oss-120b")
SMALL = ("http://10.77.0.13:8000/v1", "gpt-oss-20b")
NANO = ("http://10.77.0.13:8001/v1", "nemotron-3-nano")
QWEN = ("http://10.77.0.13:8000/v1", "qwen3-30b-a3b")

STACK = """
name: lab
deployments:
  - name: coder
    recipe: openai-gpt-oss-120b-cluster
    topology: cluster
    nodes: [spark1, spark2]
  - name: small
    recipe: gpt-oss-20b
    topology: solo
    nodes: [spark3]
    memory: 0.4
  - name: nano                  # placed by sparkctl: spark3 is the only node with 0.4 free
    recipe: nemotron-3-nano-nvfp4
    topology: solo
    memory: 0.4
proxy: {node: spark1}           # one endpoint for every model, routed by model name
"""
PROXY = "http://10.77.0.11:4000/v1"
CHANGED = STACK.replace("recipe: gpt-oss-20b", "recipe: qwen3-30b-a3b-instruct-fp8").split("  - name: nano")[0]
FAILING = CHANGED.split("  - name: small")[0] + """
  - name: broken
    recipe: nemotron-3-nano-nvfp4
    topology: solo
    nodes: [spark3]
    memory: 0.3
    env: {VLLM_STANDIN_FAULT: crash-during-load}
"""

OVER = """
  - name: broken
    recipe: nemotron-3-nano-nvfp4
    topology: solo
    nodes: [spark3]
    memory: 0.4
"""


def answer(endpoint: str, model: str, key: str) -> str:
    client = OpenAI(base_url=endpoint, api_key=key, timeout=30, max_retries=0)
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    return reply.choices[0].message.content


@pytest.fixture(scope="module")
def lab(sim_cluster_factory, tmp_path_factory):
    """3 Sparks with the stack applied once; (sparkctl, stack file, API key, the first apply's output)."""
    spark = Sparkctl(sim_cluster_factory(nodes=3))
    spark.run("down", check=True)
    stack = tmp_path_factory.mktemp("stack") / "lab.yaml"
    stack.write_text(STACK)
    first = spark.run("apply", str(stack), "--yes", check=True)
    key = spark.run("status", "coder", "--show-key", check=True).stdout.strip()
    yield spark, stack, key, first
    spark.run("down")


def containers(spark: Sparkctl) -> dict[int, list[str]]:
    """Per node, its sparkctl containers with their ids (a replaced container gets a new id)."""
    found = {}
    for node in (1, 2, 3):
        result = spark.cluster.docker(node, ["ps", "-a", "--filter", "label=sparkctl.deployment", "--format",
                                             "{{.Names}} {{.ID}} {{.State}}"], check=True)
        found[node] = sorted(result.stdout.split("\n")[:-1])
    return found


def test_apply_places_every_deployment_and_a_second_apply_changes_nothing(lab):
    spark, stack, key, first = lab
    assert "+ create    coder" in first.stdout and "+ create    nano " in first.stdout
    for endpoint, model in (CODER, SMALL, NANO):
        assert answer(endpoint, model, key)
    proxy_key = spark.run("status", "_proxy", "--show-key", check=True).stdout.strip()
    for _, model in (CODER, SMALL, NANO):  # a backend that does not serve the name would answer 404
        assert answer(PROXY, model, proxy_key)
    before = containers(spark)
    assert [c.split()[0] for c in before[3]] == ["sparkctl-vllm-nano", "sparkctl-vllm-small"]
    assert "sparkctl-proxy-lab" in " ".join(before[1])
    again = spark.run("apply", str(stack), "--yes", check=True)
    assert "stack lab is up to date: 4 deployment(s) unchanged, nothing to do" in again.stdout
    assert containers(spark) == before
    shown = json.loads(spark.run("--json", "diff", str(stack), check=True).stdout)
    assert [(c["name"], c["action"]) for c in shown["changes"]] == [
        ("coder", "unchanged"), ("small", "unchanged"), ("nano", "unchanged"), ("_proxy", "unchanged")]
    rows = json.loads(spark.run("--json", "status", "small", check=True).stdout)
    assert [(r["node"], r["container"], r["health"]) for r in rows] == [("spark3", "running", "ready")]


def test_bench_measures_the_deployment_it_is_told_to_of_several(lab, tmp_path):
    spark, _stack, key, _ = lab
    bencher, tokenizer = bench_sparkctl(spark.cluster, tmp_path)
    (bencher.home / "config" / "sparkctl").mkdir(parents=True)
    (bencher.home / "config" / "sparkctl" / "api-key").write_text(key + "\n")
    (bencher.home / "config" / "sparkctl" / "api-key").chmod(0o600)
    args = ("bench", "--pp", "64", "--tg", "4", "--concurrency", "1", "--runs", "1", "--tokenizer", str(tokenizer),
            "--skip-coherence")
    refused = bencher.run(*args)
    assert refused.returncode != 0 and "name one with --deployment" in refused.stderr, refused.stderr
    run_id = json.loads(bencher.run("--json", *args, "--deployment", "nano", timeout=300, check=True).stdout)["id"]
    stored = json.loads(bencher.run("--json", "bench", "show", run_id, check=True).stdout)
    assert (stored["deployment"]["endpoint"], stored["deployment"]["nodes"]) == (NANO[0], ["spark3"])


def test_changing_one_entry_replaces_only_it_and_a_dropped_entry_loses_only_its_containers(lab):
    spark, stack, key, _ = lab
    before = containers(spark)
    stack.write_text(CHANGED)
    failures: list[str] = []
    done = threading.Event()

    def keep_asking() -> None:
        while not done.is_set():
            try:
                answer(*CODER, key)
            except Exception as exc:  # noqa: BLE001 - any failure of the untouched deployment is the finding
                failures.append(repr(exc))
            done.wait(0.3)

    prober = threading.Thread(target=keep_asking)
    prober.start()
    try:
        result = spark.run("apply", str(stack), "--yes", check=True)
    finally:
        done.set()
        prober.join(timeout=60)
    assert "- remove    nano" in result.stdout and "~ replace   small" in result.stdout
    assert "- remove    _proxy" in result.stdout and "= unchanged coder" in result.stdout
    assert failures == []
    after = containers(spark)
    assert after[2] == before[2]  # the cluster's containers were not touched; only the proxy left spark1
    assert after[1] == [c for c in before[1] if not c.startswith("sparkctl-proxy-lab ")]
    assert [c.split()[0] for c in after[3]] == ["sparkctl-vllm-small"] and after[3] != before[3][1:]
    assert answer(*QWEN, key)


def test_a_failing_entry_is_rolled_back_alone_and_the_apply_says_what_was_applied(lab):
    spark, stack, key, _ = lab
    before = containers(spark)
    stack.write_text(FAILING)
    planned = spark.run("diff", str(stack), "--commands", check=True).stdout
    assert "+ create    broken" in planned and "- remove    small" in planned and "# --- create broken" in planned
    assert "docker run -d --name sparkctl-vllm-broken" in planned and "# --- create coder" not in planned
    result = spark.run("apply", str(stack), "--yes")
    assert result.returncode != 0
    assert "apply stopped at 'broken' (create)" in result.stderr
    assert "applied: small (removed); not attempted: nothing" in result.stderr
    after = containers(spark)
    assert (after[1], after[2], after[3]) == (before[1], before[2], [])  # broken rolled back, coder untouched
    assert answer(*CODER, key)


def test_an_infeasible_stack_is_refused_before_any_step(lab):
    spark, stack, _, _ = lab
    before = spark.cluster.nodes[0].sshd_log.read_text().count("Accepted publickey")
    stack.write_text(CHANGED.replace("memory: 0.4", "memory: 0.5") + OVER)
    result = spark.run("apply", str(stack), "--yes")
    assert result.returncode == 2
    assert "node spark3 cannot hold 'broken'" in result.stderr
    assert "0.50 (small) + 0.40 (broken) = 0.90, over its memory budget of 0.85" in result.stderr
    logins = spark.cluster.nodes[0].sshd_log.read_text().count("Accepted publickey")
    assert logins == before


def test_down_stack_removes_every_deployment_of_the_stack(lab):
    spark, stack, _, _ = lab
    result = spark.run("down", "--stack", str(stack), check=True)
    assert "down: stack lab: removed coder" in result.stdout
    assert spark.no_containers_anywhere()
