"""`sparkctl doctor` and `sparkctl init` through real SSH on simulated Sparks, healthy and with injected faults."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from orchestrator.config.inventory import load_inventory
from tests.integration.sparkctl_run import Sparkctl
from tests.sim import archimage, faults

TIMINGS = Path(os.environ.get("SPARKCTL_DOCTOR_TIMINGS", "/tmp/sparkctl-doctor-timings.txt"))


def doctor(spark: Sparkctl, *args: str) -> tuple[int, dict]:
    """Run `sparkctl --json doctor`; return the exit code and its final JSON document (after the event lines)."""
    result = spark.run("--json", "doctor", *args, timeout=120)
    lines = result.stdout.splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    return result.returncode, json.loads("\n".join(lines[start:]))


def problems(document: dict) -> list[tuple[str, str]]:
    return [(p["where"], p["check"]) for p in document["problems"] if p["severity"] == "error"]


def first(document: dict, check: str) -> dict:
    return next(p for p in document["problems"] if p["check"] == check and p["severity"] == "error")


def record(label: str, seconds: float) -> None:
    with TIMINGS.open("a") as handle:
        handle.write(f"{label}: {seconds:.2f}s\n")


@pytest.fixture
def two(sim_cluster_factory):
    cluster = sim_cluster_factory(nodes=2)
    yield Sparkctl(cluster)
    for node in cluster.nodes:
        faults.heal(node)
        archimage.remove_image(node)


def test_doctor_passes_on_a_healthy_cluster(two):
    started = time.monotonic()
    code, document = doctor(two)
    record("doctor, 2 healthy nodes (wall, CLI included)", time.monotonic() - started)
    assert code == 0 and document["ok"], document["problems"]
    assert document["fabric"] == {"spark1": {"spark2": True}, "spark2": {"spark1": True}}
    facts = document["nodes"]["spark1"]
    assert facts["rdma"].count(":ACTIVE:enp1s0f1np1") == 2 and facts["uverbs"] == "2"
    assert facts["docker"] == "ok" and facts["nvidia"] == "hook" and facts["drop_caches"] == "root"


def test_doctor_table_on_a_terminal_and_exit_code(two):
    result = two.run("doctor", timeout=120)
    assert result.returncode == 0 and "fabric reachability" in result.stdout and "doctor: healthy" in result.stdout


def test_fabric_link_down_is_named_with_the_cable(two):
    faults.fabric_down(two.cluster.node(2))
    code, document = doctor(two)
    assert code == 1
    assert ("spark2", "fabric") in problems(document) and ("spark2", "rdma") in problems(document)
    assert ("spark1 <-> spark2", "reach") in problems(document)
    fabric = first(document, "fabric")
    assert "enp1s0f1np1 on spark2 is down" in fabric["message"] and "cable" in fabric["fix"]


def test_missing_route_between_two_nodes_is_named_as_the_pair(two):
    faults.drop_route(two.cluster.node(1), two.cluster.node(2))
    code, document = doctor(two)
    assert code == 1 and problems(document) == [("spark1 <-> spark2", "reach")]
    assert document["fabric"]["spark1"]["spark2"] is False
    assert "ip route get 10.78.0.12" in first(document, "reach")["fix"]


def test_image_of_the_wrong_architecture_is_named(two):
    arch = archimage.load_foreign_image(two.cluster.node(1))
    code, document = doctor(two, "--image", archimage.FOREIGN_TAG)
    assert code == 1
    assert ("spark1", "image") in problems(document) and ("spark2", "image") in problems(document)
    wrong = next(p for p in document["problems"] if p["where"] == "spark1" and p["check"] == "image")
    assert f"built for {arch}" in wrong["message"] and f"linux/{archimage.host_arch()}" in wrong["fix"]
    missing = next(p for p in document["problems"] if p["where"] == "spark2" and p["check"] == "image")
    assert "is not on spark2" in missing["message"] and "images sync" in missing["fix"]


def init(spark: Sparkctl, output: Path, user: str, *extra: str, stdin: str | None = None):
    cluster = spark.cluster
    argv = [spark_binary(), "init", *(n.ip for n in cluster.nodes), "--user", user, "--ssh-key",
            str(cluster.layout.client_key), "--known-hosts", str(cluster.layout.known_hosts), "-o", str(output), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, input=stdin, env=spark.env())


def spark_binary() -> str:
    from tests.integration.sparkctl_run import SPARKCTL

    return SPARKCTL


def same_inventory(written: Path, expected: Path) -> None:
    """Equal modulo order and comments: nodes, SSH settings, and the ulimits containers get."""
    ours, theirs = yaml.safe_load(written.read_text()), yaml.safe_load(expected.read_text())
    key = lambda node: node["name"]  # noqa: E731
    assert sorted(ours["nodes"], key=key) == sorted(theirs["nodes"], key=key)
    for field in ("user", "ssh_key", "known_hosts"):
        assert ours["defaults"].get(field) == theirs["defaults"].get(field), field
    assert load_inventory(written).ulimits() == load_inventory(expected).ulimits()


def test_init_writes_the_simulators_inventory_and_up_works_with_it(two, tmp_path):
    output = tmp_path / "inventory.yaml"
    result = init(two, output, "root")
    assert result.returncode == 0, result.stderr
    assert "fabric_if: enp1s0f1np1" in result.stdout and f"wrote {output}" in result.stdout
    same_inventory(output, two.cluster.inventory_path)
    refused = init(two, output, "root", stdin="n\n")
    assert refused.returncode != 0 and "overwrite" in refused.stdout + refused.stderr
    try:
        two.run("-i", str(output), "up", "solo", "gpt-oss-20b", check=True, timeout=600)
        status = json.loads(two.run("-i", str(output), "--json", "status", check=True).stdout)
        assert [(row["node"], row["role"]) for row in status] == [("spark1", "solo")]
    finally:
        two.run("-i", str(output), "down", timeout=120)


def test_mtu_mismatch_on_four_nodes_names_the_odd_one(sim_cluster_factory):
    spark = Sparkctl(sim_cluster_factory(nodes=4))
    started = time.monotonic()
    code, document = doctor(spark)
    record("doctor, 4 healthy nodes (wall, CLI included)", time.monotonic() - started)
    record("doctor, 4 healthy nodes (probes only)", document["seconds"])
    assert code == 0, document["problems"]
    faults.set_mtu(spark.cluster.node(3), faults.JUMBO_MTU)
    try:
        code, document = doctor(spark)
    finally:
        faults.heal(spark.cluster.node(3))
    assert code == 1 and problems(document) == [("spark3", "mtu")]
    assert "spark3=9000" in first(document, "mtu")["message"]
    assert "on spark3: sudo ip link set enp1s0f1np1 mtu 1500" in first(document, "mtu")["fix"]


@pytest.fixture(scope="module")
def strict(sim_clusters):
    """Two Sparks reached as the non-root 'spark' user, the workstation allowed TCP 22 only."""
    sim_clusters.close()
    cluster = sim_clusters.cluster.up(2, owner_pid=os.getpid(), ssh_user="spark", port22_only=True)
    try:
        yield Sparkctl(cluster)
    finally:
        cluster.down()


def test_strict_sparks_pass_doctor_as_the_spark_user(strict):
    code, document = doctor(strict)
    assert code == 0 and document["ok"], document["problems"]
    assert {f["user"] for f in document["nodes"].values()} == {"spark"}
    assert {f["drop_caches"] for f in document["nodes"].values()} == {"sudo"}
    assert strict.run("drop-caches", "--all", timeout=60).returncode == 0
    assert strict.cluster.node(1).drop_caches.read_text().strip() == "3"


def test_strict_sparks_sudo_allows_only_drop_caches(strict):
    login = ["ssh", "-F", str(strict.cluster.ssh_config), "-l", "spark", "spark1"]
    assert subprocess.run([*login, "sudo -n true"], capture_output=True, timeout=30).returncode != 0
    allowed = subprocess.run([*login, "sudo -n sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'"], timeout=30)
    assert allowed.returncode == 0


def test_port22_only_host_reaches_ssh_only_nodes_reach_each_other(strict):
    login = ["ssh", "-F", str(strict.cluster.ssh_config), "spark2"]
    server = subprocess.Popen([*login, "exec timeout 30 python3 -m http.server 8999 --bind 0.0.0.0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        probe = "timeout 3 bash -c 'exec 3<>/dev/tcp/{}/8999' && echo open"
        from_host = subprocess.run(["bash", "-c", probe.format("10.77.0.12")], capture_output=True, text=True, timeout=10)
        from_peer = strict.cluster.ssh(1, probe.format("10.78.0.12"), timeout=10)
        assert "open" not in from_host.stdout and "open" in from_peer.stdout
    finally:
        server.kill()
        server.wait(timeout=10)


def test_init_as_the_spark_user(strict, tmp_path):
    output = tmp_path / "inventory.yaml"
    result = init(strict, output, "spark")
    assert result.returncode == 0, result.stderr
    same_inventory(output, strict.cluster.inventory_path)
