"""Faults during up: each is a clear error naming node and phase, and nothing of sparkctl is left running."""

from __future__ import annotations

import json
import signal
import time

from tests.integration.sparkctl_run import stop, wait_for

CLUSTER_RECIPE = "openai-gpt-oss-120b-cluster"
SOLO_RECIPE = "openai-gpt-oss-120b"


def assert_failed(result, *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "orchestrator/" not in result.stderr, "sparkctl itself printed a traceback"
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_node_unreachable_before_up_starts_nothing(spark):
    spark.cluster.cut(2)
    result = spark.run("up", "cluster", CLUSTER_RECIPE, timeout=120)
    assert_failed(result, "spark2", "phase connect")
    assert spark.containers(1) == []


def test_server_crash_during_load_shows_its_logs_and_rolls_back(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    result = spark.run("up", "solo", SOLO_RECIPE, "-e", "VLLM_STANDIN_FAULT=crash-during-load")
    assert_failed(result, "phase readiness failed on spark1", "exited", "rolled back")
    assert "OutOfMemory" in result.stderr or "out of memory" in result.stderr.lower()
    assert spark.no_containers_anywhere()
    [saved] = (tmp_path / "sparkctl" / "failures").glob("*/spark1.log")
    assert str(saved.parent) in result.stderr, "the path of the saved logs is printed"
    assert "vllm | " in saved.read_text() and "out of memory" in saved.read_text().lower()


def test_server_never_ready_hits_the_deadline_and_rolls_back(spark):
    result = spark.run("up", "solo", SOLO_RECIPE, "-e", "VLLM_STANDIN_FAULT=never-ready", "--timeout", "6")
    assert_failed(result, "phase readiness failed on spark1", "not ready after 6s", "rolled back")
    assert spark.no_containers_anywhere()


def test_ray_worker_that_never_joins_fails_the_gate(spark):
    spark.cluster.cut(2, net="fabric")
    result = spark.run("up", "cluster", CLUSTER_RECIPE, "--ray-timeout", "15")
    assert_failed(result, "phase ray-gate failed on spark1", "10.78.0.12", "rolled back")
    assert spark.no_containers_anywhere()


def test_node_cut_during_up_fails_naming_it(spark):
    up = spark.start("up", "cluster", CLUSTER_RECIPE, "-e", "VLLM_STANDIN_FAULT=slow-start:90")
    try:
        head_log = lambda: spark.cluster.docker(1, ["logs", "sparkctl-vllm"]).stdout  # noqa: E731
        assert wait_for(lambda: "Starting to load model" in head_log(), 150), "vllm serve never started loading"
        spark.cluster.cut(2)
        cut_at = time.monotonic()
        _out, err = stop(up, timeout=120)
        took = time.monotonic() - cut_at
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode != 0
    assert "phase readiness failed on spark2" in err, err
    print(f"cut to exit, rollback of spark1 included: {took:.1f}s")
    assert took < 20, "a lost node must be declared within 10 s and skipped by the rollback"
    assert spark.containers(1) == [], "the reachable node was not rolled back"
    spark.cluster.heal(2)
    rows = json.loads(spark.run("--json", "status").stdout)
    assert [r["health"].split(":")[0] for r in rows if r["node"] == "spark2"] == ["leftover"], rows
    # The cut node's sshd learns its client is gone only when a heartbeat write fails after the heal.
    assert wait_for(lambda: spark.run("down").returncode == 0, 120, interval=3)
    assert spark.no_containers_anywhere()


def signal_and_time(up, signum: int) -> tuple[str, float]:
    """Send a signal to a running sparkctl; its stderr and how long it took to exit (killed by PID if it hangs)."""
    try:
        up.send_signal(signum)
        sent = time.monotonic()
        _out, err = stop(up, timeout=60)
        return err, time.monotonic() - sent
    finally:
        if up.poll() is None:
            up.kill()


def test_sigint_during_readiness_rolls_back_and_the_lock_refuses_others(spark):
    up = spark.start("up", "solo", SOLO_RECIPE, "-e", "VLLM_STANDIN_FAULT=slow-start:60")
    try:
        assert wait_for(lambda: any("running" in c for c in spark.containers(1)), 120)
        assert_failed(spark.run("down"), "another sparkctl holds the lock", "pid ", "since")
    finally:
        err, took = signal_and_time(up, signal.SIGINT)
    print(f"SIGINT during readiness to exit, rollback included: {took:.1f}s")
    assert up.returncode == 130, err
    assert "interrupted" in err and "rolled back" in err
    assert took < 5, "Ctrl-C must stop the wait at once; only the rollback may take time"
    assert spark.no_containers_anywhere()


def test_sigterm_during_the_ray_gate_rolls_back_every_node(spark):
    spark.cluster.cut(2, net="fabric")
    up = spark.start("up", "cluster", CLUSTER_RECIPE, "--ray-timeout", "120")
    try:
        assert wait_for(lambda: any("running" in c for c in spark.containers(2)), 120)
        time.sleep(2)
    finally:
        err, took = signal_and_time(up, signal.SIGTERM)
    print(f"SIGTERM during the Ray gate to exit, rollback of 2 nodes included: {took:.1f}s")
    assert up.returncode == 143, err
    assert "rolled back" in err and took < 6
    assert spark.no_containers_anywhere()


def test_a_lock_left_by_a_cut_off_sparkctl_is_named_and_cleared(spark):
    spark.cluster.ssh(1, "echo 'alice@laptop pid 4242 since yesterday' > /tmp/sparkctl.lock.owner; "
                         "nohup flock /tmp/sparkctl.lock sleep 300 > /dev/null 2>&1 &", check=True)
    assert_failed(spark.run("down"), "another sparkctl holds the lock: alice@laptop pid 4242")
    cleared = spark.run("unlock", "spark1", check=True)
    assert "cleared the lock held by alice@laptop pid 4242 since yesterday" in cleared.stdout
    spark.run("down", check=True)
    assert "no sparkctl holds the lock" in spark.run("unlock", "spark1", check=True).stdout


def test_with_a_node_cut_the_others_are_still_served(bench_env):
    spark, tokenizer = bench_env
    spark.run("up", "solo", SOLO_RECIPE, check=True)
    spark.cluster.cut(2)
    try:
        logs = spark.run("logs", "--tail", "5")
        assert logs.returncode == 4 and "spark1 | vllm | " in logs.stdout and "spark2" in logs.stderr
        bench = spark.run("--json", "bench", "--pp", "128", "--tg", "4", "--concurrency", "1", "--runs", "1",
                          "--tokenizer", str(tokenizer), timeout=300)
        assert bench.returncode == 4 and "spark2 could not be reached" in bench.stderr, bench.stderr
        assert json.loads(bench.stdout[bench.stdout.rindex('{\n  "id"'):])["status"] == "complete"
        status = spark.run("--json", "status")
        assert status.returncode == 4, status.stderr
        rows = {row["node"]: row for row in json.loads(status.stdout)}
        assert rows["spark1"]["health"] == "ready" and rows["spark2"]["container"] == "unreachable"
        drops = spark.run("--json", "drop-caches", "--all")
        assert drops.returncode == 4 and "error" in json.loads(drops.stdout)["spark2"]
        down = spark.run("down")
        assert down.returncode == 4 and "spark2" in down.stderr and "spark1 removed 1" in down.stdout
        assert spark.containers(1) == []
    finally:
        spark.cluster.heal(2)


def test_a_cold_cache_is_refused_in_preflight_naming_the_fix(spark):
    import shutil

    from tests.sim.modelcache import repo_dir, seed_catalog

    node = spark.cluster.nodes[0]
    shutil.rmtree(repo_dir(node.home, "openai/gpt-oss-120b"))
    try:
        started = time.monotonic()
        result = spark.run("up", "solo", SOLO_RECIPE)
        assert time.monotonic() - started < 10, "refused within preflight, before any download or container"
        assert_failed(result, "model openai/gpt-oss-120b is not whole in the Hugging Face cache on spark1 (missing)",
                      "sparkctl models sync", "--setup")
        assert result.returncode == 2 and spark.no_containers_anywhere()
    finally:
        seed_catalog([node])


def test_the_images_own_vllm_refuses_a_removed_flag_and_flags_an_unread_variable(spark, tmp_path):
    recipe = tmp_path / "old-habits.yaml"
    recipe.write_text("extends: nemotron-3-nano-nvfp4\nenv:\n  VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8: '1'\n")
    started = time.monotonic()
    refused = spark.run("up", "solo", str(recipe), "--set", "swap-space=4")
    assert time.monotonic() - started < 10, "refused in preflight, before any container or model load"
    assert_failed(refused, "the vLLM in image vllm-node has no --swap-space")
    assert refused.returncode == 2 and spark.no_containers_anywhere()
    served = spark.run("up", "solo", str(recipe), check=True, timeout=300)
    assert "sets VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8, which the vLLM in image vllm-node does not read" in served.stderr
