"""The simulated nodes behave like separate machines reachable over real SSH."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.sim import Cluster

pytestmark = pytest.mark.integration


def test_every_node_answers_strict_host_key_ssh_with_its_own_hostname(sim_cluster: Cluster) -> None:
    for node in sim_cluster.nodes:
        argv = [
            "ssh",
            "-F",
            str(sim_cluster.ssh_config),
            "-o",
            "StrictHostKeyChecking=yes",
            node.ip,
            "hostname",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == node.name


def test_a_node_with_a_foreign_host_key_is_refused(sim_cluster: Cluster, tmp_path) -> None:
    wrong = tmp_path / "known_hosts"
    first, second = sim_cluster.nodes[:2]
    line = sim_cluster.dir.joinpath("known_hosts").read_text().splitlines()[1]
    wrong.write_text(line.replace(second.name, first.name, 1).replace(second.ip, first.ip, 1) + "\n")
    argv = ["ssh", "-F", str(sim_cluster.ssh_config), "-o", f"UserKnownHostsFile={wrong}", first.name, "true"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in done.stderr


def test_tmp_shm_and_var_lib_sparkctl_are_private_to_each_node(sim_cluster: Cluster) -> None:
    first, second = sim_cluster.nodes[:2]
    for path in ("/tmp/marker", "/dev/shm/marker", "/var/lib/sparkctl/marker", "/root/marker"):
        assert sim_cluster.ssh(first, f"echo here > {path}").returncode == 0
        assert sim_cluster.ssh(second, f"test ! -e {path}").returncode == 0, path
        sim_cluster.ssh(first, f"rm {path}")


def test_nodes_reach_each_other_on_both_networks_and_nothing_else(sim_cluster: Cluster) -> None:
    ping = "busybox ping -c1 -W1 {} >/dev/null 2>&1"
    second = sim_cluster.nodes[1]
    assert sim_cluster.ssh(1, ping.format(second.ip)).returncode == 0
    assert sim_cluster.ssh(1, ping.format(second.fabric_ip)).returncode == 0
    routes = sim_cluster.ssh(1, "ip route").stdout
    assert "default" not in routes
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "0"


def test_node_interfaces_are_named_like_a_spark(sim_cluster: Cluster) -> None:
    node = sim_cluster.nodes[0]
    links = sim_cluster.ssh(node, "ip -br -4 addr").stdout
    assert f"{node.ip}/24" in next(line for line in links.splitlines() if line.startswith("eth0"))
    assert f"{node.fabric_ip}/24" in next(line for line in links.splitlines() if line.startswith("enp1s0f1np1"))


def test_drop_caches_lands_in_a_per_node_file(sim_cluster: Cluster) -> None:
    first, second = sim_cluster.nodes[:2]
    second.drop_caches.write_text("0\n")
    assert sim_cluster.ssh(first, "sync; echo 3 > /proc/sys/vm/drop_caches").returncode == 0
    assert first.drop_caches.read_text().strip() == "3"
    assert second.drop_caches.read_text().strip() == "0"


def test_meminfo_shows_a_spark_sized_total_and_a_distinct_available_per_node(sim_cluster: Cluster) -> None:
    seen = set()
    for node in sim_cluster.nodes:
        meminfo = sim_cluster.ssh(node, "cat /proc/meminfo").stdout
        assert f"MemAvailable:{node.mem_available_kb:>16} kB" in meminfo
        assert "MemTotal:       128450000 kB" in meminfo
        seen.add(node.mem_available_kb)
    assert len(seen) == len(sim_cluster.nodes)


def test_each_accepted_connection_is_logged_in_the_nodes_sshd_log(sim_cluster: Cluster) -> None:
    node = sim_cluster.nodes[0]
    before = node.sshd_log.read_text().count("Accepted publickey")
    for _ in range(3):
        sim_cluster.ssh(node, "true", check=True)
    assert node.sshd_log.read_text().count("Accepted publickey") == before + 3


def test_inventory_lists_every_node_in_sparkctls_format(sim_cluster: Cluster) -> None:
    import yaml

    inventory = yaml.safe_load(sim_cluster.inventory_path.read_text())
    defaults = inventory["defaults"]
    assert defaults["user"] == "root"
    assert defaults["ssh_key"] == str(sim_cluster.dir / "id_ed25519")
    assert defaults["known_hosts"] == str(sim_cluster.dir / "known_hosts")
    assert [n["name"] for n in inventory["nodes"]] == [n.name for n in sim_cluster.nodes]
    assert inventory["nodes"][1] == {
        "name": "spark2",
        "ip": "10.77.0.12",
        "fabric_ip": "10.78.0.12",
        "fabric_if": "enp1s0f1np1",
        "rdma_dev": "rocep1s0f1,roceP2p1s0f1",
    }
