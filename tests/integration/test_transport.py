"""The SSH transport against real sshd: host keys, secrets off argv, node-side timeouts."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from orchestrator.config.inventory import load_inventory
from orchestrator.errors import HostKeyError
from orchestrator.remote.transport import SSHTransport
from tests.integration.sparkctl_run import wait_for


@pytest.fixture
def cluster(sim_cluster_factory):
    return sim_cluster_factory(nodes=2)


def inventory_with_known_hosts(cluster, tmp_path: Path, known_hosts: Path):
    """The cluster's inventory, but checking host keys against another known_hosts file."""
    data = yaml.safe_load(Path(cluster.inventory_path).read_text())
    data["defaults"]["known_hosts"] = str(known_hosts)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_inventory(path)


def test_first_contact_is_recorded_then_trusted(cluster, tmp_path):
    known = tmp_path / "known_hosts"
    notices: list[str] = []
    inventory = inventory_with_known_hosts(cluster, tmp_path, known)
    transport = SSHTransport(inventory, notify=notices.append)
    try:
        assert transport.run(inventory.nodes[0], "hostname", 10).stdout.strip() == "spark1"
    finally:
        transport.close()
    assert "10.77.0.11" in known.read_text() and any("recorded the host key" in n for n in notices)
    again = SSHTransport(inventory, notify=notices.append)
    try:
        assert again.run(inventory.nodes[0], "true", 10).ok
    finally:
        again.close()
    assert known.read_text().count("10.77.0.11") == 1


def test_a_changed_host_key_is_refused_with_the_fix(cluster, tmp_path):
    lines = (Path(cluster.dir) / "known_hosts").read_text().splitlines()
    pinned = {host: line.split()[1:] for line in lines for host in line.split()[0].split(",")}
    assert pinned["10.77.0.11"] != pinned["10.77.0.12"], "the simulated nodes must have distinct host keys"
    known = tmp_path / "known_hosts"
    known.write_text(f"10.77.0.11 {' '.join(pinned['10.77.0.12'])}\n")
    inventory = inventory_with_known_hosts(cluster, tmp_path, known)
    transport = SSHTransport(inventory)
    try:
        with pytest.raises(HostKeyError, match="ssh-keygen -R 10.77.0.11"):
            transport.run(inventory.nodes[0], "true", 10)
    finally:
        transport.close()


def test_secrets_reach_the_script_but_never_any_argv(cluster):
    inventory = load_inventory(Path(cluster.inventory_path))
    transport = SSHTransport(inventory)
    secret = "hf_sparkctl_test_secret_value"
    seen: dict[str, str] = {}

    def watch_argv():
        time.sleep(1.0)
        seen["ps"] = cluster.ssh(1, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '").stdout

    watcher = threading.Thread(target=watch_argv)
    watcher.start()
    try:
        result = transport.run(inventory.nodes[0], 'sleep 3; printf %s "${#HF_TOKEN}"', 20, {"HF_TOKEN": secret})
    finally:
        watcher.join()
        transport.close()
    assert result.stdout == str(len(secret))
    assert "sleep 3" in seen["ps"] and secret not in seen["ps"]


def test_a_timed_out_step_is_also_stopped_on_the_node(cluster):
    inventory = load_inventory(Path(cluster.inventory_path))
    transport = SSHTransport(inventory)
    cluster.ssh(1, "rm -f /tmp/late")
    try:
        result = transport.run(inventory.nodes[0], "sleep 12; touch /tmp/late", 2)
    finally:
        transport.close()
    assert result.timed_out
    assert wait_for(lambda: "sleep 12" not in cluster.ssh(1, "ps -eo args").stdout, 15)
    time.sleep(1)
    assert cluster.ssh(1, "test -e /tmp/late").returncode != 0
