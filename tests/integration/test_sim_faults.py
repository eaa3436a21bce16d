"""Faults on single simulated nodes: crash (kill), boot again, cut and heal a network."""

from __future__ import annotations

import pytest

from tests.sim import Cluster, SimError

pytestmark = pytest.mark.integration
PING = "busybox ping -c1 -W1 {} >/dev/null 2>&1"


def test_kill_stops_every_process_of_the_node_and_boot_brings_it_back_with_its_files(
    sim_cluster: Cluster,
) -> None:
    node = sim_cluster.nodes[1]
    sim_cluster.ssh(node, "echo kept > /var/lib/sparkctl/marker; docker run -d --name sleeper sim-busybox sleep 600")
    sim_cluster.kill(node)
    assert not sim_cluster.is_running(node)
    assert sim_cluster.ssh(node, "true", timeout=30).returncode == 255
    assert not node.docker_socket.exists() or sim_cluster.docker(node, ["info"], timeout=10).returncode != 0
    sim_cluster.boot(node)
    assert sim_cluster.ssh(node, "cat /var/lib/sparkctl/marker").stdout == "kept\n"
    images = sim_cluster.ssh(node, "docker images --format '{{.Repository}}'").stdout.split()
    assert "vllm-node" in images, "a rebooted node keeps its engine's images"
    state = sim_cluster.ssh(node, "docker inspect -f '{{.State.Running}}' sleeper").stdout.strip()
    assert state == "false", "a crash leaves containers stopped, as on a real machine"
    sim_cluster.ssh(node, "docker rm -f sleeper; rm /var/lib/sparkctl/marker")


def test_kill_and_boot_refuse_a_node_in_the_wrong_state(sim_cluster: Cluster) -> None:
    with pytest.raises(SimError, match="already running"):
        sim_cluster.boot(1)
    sim_cluster.kill(2)
    with pytest.raises(SimError, match="not running"):
        sim_cluster.kill(2)
    sim_cluster.boot(2)


def test_a_node_index_out_of_range_is_a_clear_error(sim_cluster: Cluster) -> None:
    with pytest.raises(SimError, match=r"has nodes 1\.\.2"):
        sim_cluster.kill(9)
    with pytest.raises(SimError, match="not a node"):
        sim_cluster.cut("bogus")


def test_cut_makes_a_node_unreachable_and_heal_undoes_it(sim_cluster: Cluster) -> None:
    node = sim_cluster.nodes[1]
    sim_cluster.cut(node)
    assert sim_cluster.ssh(node, "true", timeout=30).returncode == 255
    assert sim_cluster.ssh(1, PING.format(node.fabric_ip)).returncode != 0
    sim_cluster.heal(node)
    assert sim_cluster.ssh(node, "true").returncode == 0
    assert sim_cluster.ssh(1, PING.format(node.fabric_ip)).returncode == 0


def test_cutting_only_the_fabric_keeps_management_reachable(sim_cluster: Cluster) -> None:
    node = sim_cluster.nodes[1]
    sim_cluster.cut(node, "fabric")
    try:
        assert sim_cluster.ssh(node, "true").returncode == 0
        assert sim_cluster.ssh(1, PING.format(node.ip)).returncode == 0
        assert sim_cluster.ssh(1, PING.format(node.fabric_ip)).returncode != 0
    finally:
        sim_cluster.heal(node, "fabric")
    assert sim_cluster.ssh(1, PING.format(node.fabric_ip)).returncode == 0


def test_an_unknown_network_is_refused(sim_cluster: Cluster) -> None:
    with pytest.raises(SimError, match="unknown network"):
        sim_cluster.cut(2, "wifi")
