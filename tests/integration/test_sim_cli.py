"""`python -m tests.sim`: start, stop, faults, refusals, and a teardown that leaves nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sim import Cluster, SimError, network, teardown

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
CLI_DIR = Path(os.environ.get("SPARKCTL_SIM_DIR") or "/var/lib/sparkctl-sim/pytest").with_name("cli-test")


def sim(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the CLI on the test's cluster directory."""
    argv = [sys.executable, "-m", "tests.sim", *args, "--dir", str(CLI_DIR)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO)


@pytest.fixture
def cli_cluster(sim_clusters):
    """A 2-node cluster without engines, started by the CLI (after freeing the shared subnets)."""
    sim_clusters.close()
    started = sim("up", "--nodes", "2", "--no-docker")
    assert started.returncode == 0, started.stderr
    yield CLI_DIR
    sim("down")


def assert_nothing_left(root: Path) -> None:
    assert teardown.leftovers(root) == []
    assert teardown.processes_using(root) == []
    assert not (root / "state.json").exists()


def test_up_writes_the_client_files_and_prints_ready(cli_cluster: Path) -> None:
    for name in ("inventory.yaml", "ssh_config", "known_hosts", "id_ed25519", "state.json"):
        assert (cli_cluster / name).is_file(), name
    state = json.loads((cli_cluster / "state.json").read_text())
    assert state["nodes"] == 2 and set(state["pids"]) == {"1", "2"}
    ssh = ["ssh", "-F", str(cli_cluster / "ssh_config"), "spark2", "hostname"]
    assert subprocess.run(ssh, capture_output=True, text=True, timeout=30).stdout == "spark2\n"


def test_starting_twice_is_refused_and_stopping_twice_is_harmless(cli_cluster: Path) -> None:
    again = sim("up", "--nodes", "2", "--no-docker")
    assert again.returncode == 1
    assert "already running" in again.stderr
    assert sim("down").returncode == 0
    assert_nothing_left(cli_cluster)
    twice = sim("down")
    assert twice.returncode == 0
    assert "nothing running" in twice.stdout


def test_faults_through_the_cli(cli_cluster: Path) -> None:
    assert sim("kill", "2").returncode == 0
    assert "spark2 127" not in sim("status").stdout
    assert "spark2 10.77.0.12 10.78.0.12 down" in sim("status").stdout
    assert sim("boot", "spark2").returncode == 0
    assert "spark2 10.77.0.12 10.78.0.12 up" in sim("status").stdout
    assert sim("cut", "1", "--net", "mgmt").returncode == 0
    assert not network.link_is_up("vsn1") and network.link_is_up("vfn1")
    assert sim("heal", "1").returncode == 0
    assert network.link_is_up("vsn1")


def test_a_bad_node_index_is_a_one_line_error(cli_cluster: Path) -> None:
    done = sim("kill", "7")
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: no node '7': the cluster in {CLI_DIR} has nodes 1..2 (spark1..spark2)"


def test_a_stale_directory_from_a_killed_run_is_cleaned_up(cli_cluster: Path) -> None:
    state = json.loads((cli_cluster / "state.json").read_text())
    for pid in state["pids"].values():
        subprocess.run(["kill", "-KILL", str(pid)], check=True)
    restarted = sim("up", "--nodes", "2", "--no-docker")
    assert restarted.returncode == 0, restarted.stderr
    assert "cleaning up leftovers" in restarted.stderr
    assert sim("down").returncode == 0
    assert_nothing_left(cli_cluster)


def test_down_after_a_docker_cluster_leaves_no_process_netns_link_or_mount(sim_clusters) -> None:
    sim_clusters.close()
    assert sim("up", "--nodes", "2", "--no-images", timeout=300).returncode == 0
    ssh = ["ssh", "-F", str(CLI_DIR / "ssh_config"), "spark1", "docker run -d sim-busybox sleep 600 || true"]
    subprocess.run(ssh, capture_output=True, timeout=60)
    assert sim("down").returncode == 0
    assert_nothing_left(CLI_DIR)
    assert network.harness_netns() == [] and network.harness_links() == []


def test_a_cluster_whose_owning_session_died_is_reclaimed(sim_clusters) -> None:
    sim_clusters.close()
    owner = subprocess.Popen(["sleep", "120"])
    cluster = Cluster(CLI_DIR)
    try:
        cluster.up(2, docker=False, owner_pid=owner.pid)
        with pytest.raises(SimError, match="already running"):
            Cluster(CLI_DIR).up(2, docker=False)
        owner.kill()
        owner.wait(timeout=10)
        Cluster(CLI_DIR).up(2, docker=False)
        assert cluster.ssh(2, "hostname").stdout == "spark2\n"
    finally:
        owner.kill()
        owner.wait(timeout=10)
        cluster.down()
    assert_nothing_left(CLI_DIR)
