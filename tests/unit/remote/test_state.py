"""Live state from `status` probes: restarts (docker's policy, or a node's docker back after a reboot) and
deployments whose containers docker is about to start again are not leftovers."""

from __future__ import annotations

import json

from orchestrator.remote.state import Container, leftovers, parse_containers
from orchestrator.remote.transport import Result

NEVER = "0001-01-01T00:00:00Z"
LABELS = {"sparkctl.deployment": "d1", "sparkctl.nodes": "a,b", "sparkctl.role": "head"}


def _row(name: str, state: str, restarts: int = 0, started: str = "2026-11-27T11:00:00.5Z",
         finished: str = NEVER) -> str:
    return json.dumps({"name": f"/{name}", "state": state, "labels": LABELS, "restarts": restarts,
                       "started": started, "finished": finished})


def test_status_lines_carry_restart_count_and_times():
    result = Result("a", 0, _row("c", "running", 2, "2026-11-27T12:08:37.123Z", "2026-11-27T12:08:36Z") + "\n", "", 0.1)
    [container] = parse_containers(result)
    assert (container.restarts, container.started, container.finished) == (2, "2026-11-27T12:08:37.123Z",
                                                                            "2026-11-27T12:08:36Z")


def test_older_status_lines_without_restart_facts_still_parse():
    line = json.dumps({"name": "/c", "state": "running", "labels": LABELS})
    [container] = parse_containers(Result("a", 0, line, "", 0.1))
    assert container.restarted == "" and container.restarts == 0


def test_restarted_means_docker_started_it_again():
    fresh = Container("a", "c", "running", LABELS)
    by_policy = Container("a", "c", "running", LABELS, 1, "2026-11-27T12:00:00Z", "2026-11-27T11:59:59Z")
    after_reboot = Container("a", "c", "running", LABELS, 0, "2026-11-27T12:00:00Z", "2026-11-27T11:59:00Z")
    never_finished = Container("a", "c", "running", LABELS, 0, "2026-11-27T11:00:00Z", NEVER)
    assert [c.restarted for c in (fresh, by_policy, after_reboot, never_finished)] == [
        "", "2026-11-27T12:00:00Z", "2026-11-27T12:00:00Z", ""]


def test_a_restarting_container_is_coming_back_not_a_leftover():
    restarting = [Container("a", "c", "restarting", LABELS), Container("b", "c", "running", LABELS)]
    exited = [Container("a", "c", "exited", LABELS), Container("b", "c", "running", LABELS)]
    assert leftovers(restarting) == set()
    assert leftovers(exited) == {"d1"}
