"""`status` rows of restarted containers: when docker started them again, and whether it is about to."""

from __future__ import annotations

from orchestrator.ops import status
from orchestrator.remote.state import Container

LABELS = {"sparkctl.deployment": "d1", "sparkctl.nodes": "a,b", "sparkctl.role": "head"}


def test_status_row_says_when_a_container_restarted_and_how_often_docker_did_it():
    again = Container("a", "c", "running", LABELS, 3, "2026-11-27T12:08:37.123456789Z", "2026-11-27T12:08:36Z")
    rebooted = Container("a", "c", "running", LABELS, 0, "2026-11-27T12:08:37Z", "2026-11-27T12:01:00Z")
    assert status._status_row(again, {}, False)["restarted"] == "2026-11-27 12:08:37 UTC (restarts: 3)"
    assert status._status_row(rebooted, {}, False)["restarted"] == "2026-11-27 12:08:37 UTC"
    assert status._status_row(Container("a", "c", "running", LABELS), {}, False)["restarted"] == ""


def test_status_row_of_a_restarting_container_says_docker_brings_it_back():
    row = status._status_row(Container("a", "c", "restarting", LABELS), {}, leftover=False)
    assert row["container"] == "restarting" and row["health"].startswith("restarting: docker starts it again")
