"""Node-side jobs through real SSH on a simulated Spark whose SSH user is not root (sudo only for drop_caches):
the page-cache guard run by the node's cron (drops on schedule and below a MemAvailable threshold, `off` leaves
nothing), `status` showing a stalled server, and the watchdog restarting it within its budget.

The tests share one 1-node cluster and run in order: the guard stays on while the watchdog is tested, so cron's
minute loop is already running and the watchdog acts within seconds.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.integration.sparkctl_run import Sparkctl, stop, wait_for
from tests.sim.files import node_meminfo

RECIPE = "openai-gpt-oss-120b"
STALL_FILE = "/tmp/vllm-standin-stall"


@pytest.fixture(scope="module")
def spark(sim_cluster_factory):
    """sparkctl on one non-root simulated Spark, its home as it was before any job (to compare at the end)."""
    cluster = sim_cluster_factory(nodes=1, ssh_user="spark")
    runner = Sparkctl(cluster)
    for command in (("watchdog", "off"), ("guard", "off"), ("down",)):
        runner.run(*command, check=True)
    runner.home_before = _home(runner)
    yield runner
    for command in (("watchdog", "off"), ("guard", "off"), ("down",)):
        runner.run(*command)
    node = cluster.nodes[0]
    node.meminfo.write_text(node_meminfo(Path("/proc/meminfo").read_text(), node.mem_available_kb))


def _home(spark: Sparkctl) -> list[str]:
    listing = spark.cluster.ssh(1, "find /home/spark | sort", check=True).stdout
    # `up` creates the cache mounts' directories; they are not the jobs' business.
    return [line for line in listing.splitlines() if not line.startswith(("/home/spark/.cache", "/home/spark/.triton"))]


def _dropped(node) -> bool:
    return node.drop_caches.read_text().strip() == "3"


def _jobs(spark: Sparkctl) -> list[dict[str, str]]:
    return json.loads(spark.run("--json", "guard", "status", check=True).stdout)


def test_guard_drops_on_schedule_and_status_shows_it(spark):
    node = spark.cluster.nodes[0]
    node.drop_caches.write_text("0\n")
    shown = spark.run("guard", "on", "--every", "4s", "--check", "4s", check=True).stdout
    assert "spark1: guard on (cron)" in shown
    assert _dropped(node), "installing runs the guard once: the first drop is due at once"
    assert "sparkctl-jobs" in (node.cron_spool / "crontabs" / "spark").read_text()

    node.drop_caches.write_text("0\n")
    assert wait_for(lambda: _dropped(node), 90, 1), "cron never ran the guard"
    node.drop_caches.write_text("0\n")
    assert wait_for(lambda: _dropped(node), 20, 0.5), "the guard did not drop again on its 4 s schedule"

    status = spark.run("status", check=True).stdout
    assert "nothing deployed" in status and "node-side jobs" in status and "every 4s" in status
    [row] = _jobs(spark)
    assert row["job"] == "guard" and row["scheduler"] == "cron"
    assert row["last action"].startswith("dropped") and "(schedule)" in row["last action"]


def test_guard_drops_when_mem_available_falls_below_the_threshold(spark):
    node = spark.cluster.nodes[0]
    spark.run("guard", "on", "--every", "1h", "--below", "8GiB", "--check", "2s", check=True)
    assert "every 1h, below 8.0 GiB" in _jobs(spark)[0]["settings"]
    node.drop_caches.write_text("0\n")
    node.meminfo.write_text(node_meminfo(Path("/proc/meminfo").read_text(), 4_000_000))
    try:
        assert wait_for(lambda: _dropped(node), 90, 0.5), "MemAvailable at 3.8 GiB did not trigger a drop"
        assert wait_for(lambda: "(below)" in _jobs(spark)[0]["last action"], 10)
    finally:
        node.meminfo.write_text(node_meminfo(Path("/proc/meminfo").read_text(), node.mem_available_kb))
    assert "MemAvailable 3.8 GiB" in _jobs(spark)[0]["last action"]


def test_status_says_stalled_and_the_watchdog_restarts_within_its_budget(spark, tmp_path):
    recipe = tmp_path / "guarded.yaml"
    recipe.write_text(f"extends: {RECIPE}\nguard:\n  every: 1h\n  below: 4GiB\n  check: 3s\n")
    up = spark.run("up", "solo", str(recipe), check=True, timeout=600)
    assert "page-cache guard on: spark1 (cron)" in up.stdout
    assert _jobs(spark)[0]["settings"] == "every 1h, below 4.0 GiB, check 3s"
    [container] = [line.split()[0] for line in spark.containers(1)]
    try:
        _stalled_then_restarted_then_over_budget(spark, container)
    finally:
        spark.cluster.docker(1, ["exec", container, "rm", "-f", STALL_FILE])


def _stalled_then_restarted_then_over_budget(spark: Sparkctl, container: str) -> None:
    spark.cluster.docker(1, ["exec", container, "touch", STALL_FILE], check=True)
    [row] = json.loads(spark.run("--json", "status", check=True).stdout)
    assert row["health"].startswith("stalled: /health answers but no token"), row

    started = _started_at(spark, container)
    spark.run("watchdog", "on", "--after", "2", "--check", "2s", "--deadline", "2s", "--budget", "1", check=True)
    assert wait_for(lambda: _started_at(spark, container) != started, 120, 1), "the watchdog never restarted it"
    assert wait_for(lambda: _health(spark) == "ready", 60, 1), "the restarted server does not answer"
    watchdog = next(r for r in _jobs(spark) if r["job"] == "watchdog")
    assert watchdog["last action"].startswith("1 restart(s) in the last hour"), watchdog
    status = spark.run("status", check=True).stdout
    assert "watchdog" in status and "restart(s)" in status

    # Stalled again: the budget (1 per hour) is spent, so the watchdog logs and leaves it alone.
    restarted = _started_at(spark, container)
    spark.cluster.docker(1, ["exec", container, "touch", STALL_FILE], check=True)
    assert wait_for(lambda: "over-budget" in next(r for r in _jobs(spark) if r["job"] == "watchdog")["last action"],
                    60, 1)
    assert _started_at(spark, container) == restarted


def test_off_leaves_nothing_on_the_node(spark):
    spark.run("watchdog", "off", check=True)
    assert [r["job"] for r in _jobs(spark)] == ["guard"], "removing one job keeps the other"
    spark.run("guard", "off", check=True)
    node = spark.cluster.nodes[0]
    assert not (node.cron_spool / "crontabs" / "spark").exists()
    assert _home(spark) == spark.home_before
    left = spark.cluster.ssh(1, "ps -u spark -o args= | grep -c runner.sh || true").stdout.strip()
    assert left == "0"
    assert "node-side jobs" not in spark.run("status", check=True).stdout
    again = spark.run("guard", "off", check=True)
    assert again.returncode == 0


def test_status_watch_refreshes_a_bounded_number_of_times_and_stops_on_ctrl_c(spark):
    shown = spark.run("status", "--watch", "--interval", "1", "--count", "2", check=True, timeout=60).stdout
    assert shown.count("(every 1s, Ctrl-C stops)") == 2 and shown.count("sparkctl status") + shown.count(
        "nothing deployed") >= 2
    watching = spark.start("status", "--watch", "--interval", "1")
    try:
        assert wait_for(lambda: watching.poll() is not None or False, 4) is False, "--watch stopped by itself"
        watching.send_signal(signal.SIGINT)
        out, _ = stop(watching, timeout=20)
    finally:
        if watching.poll() is None:
            watching.kill()
            stop(watching)
    assert watching.returncode == 0 and "Ctrl-C stops" in out


def _started_at(spark: Sparkctl, container: str) -> str:
    return spark.cluster.docker(1, ["inspect", "--format", "{{.State.StartedAt}}", container], check=True).stdout.strip()


def _health(spark: Sparkctl) -> str:
    rows = json.loads(spark.run("--json", "status").stdout or "[]")
    return rows[0]["health"] if rows else ""
