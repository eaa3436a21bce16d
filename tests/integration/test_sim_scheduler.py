"""The simulated nodes' scheduler: each node runs Debian's cron with its own spool, kept across a reboot."""

from __future__ import annotations

import pytest

from tests.sim import Cluster

pytestmark = pytest.mark.integration
ENTRY = "17 4 * * * true # sim-scheduler-test"


def test_each_node_has_its_own_cron_and_crontabs_survive_a_reboot(sim_cluster: Cluster) -> None:
    first, second = sim_cluster.nodes[:2]
    assert "offline" in sim_cluster.ssh(first, "systemctl is-system-running || true").stdout, "no systemd in a node"
    assert sim_cluster.ssh(first, f"echo '{ENTRY}' | crontab -", check=True).returncode == 0
    try:
        assert ENTRY in sim_cluster.ssh(first, "crontab -l").stdout
        assert ENTRY not in sim_cluster.ssh(second, "crontab -l 2>&1").stdout
        sim_cluster.kill(first)
        sim_cluster.boot(first)
        assert ENTRY in sim_cluster.ssh(first, "crontab -l").stdout
        assert sim_cluster.ssh(first, "pgrep -x cron").returncode == 0, "cron comes back with the node"
    finally:
        sim_cluster.ssh(first, "crontab -r")
