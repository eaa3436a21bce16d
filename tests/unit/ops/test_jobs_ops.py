"""Installing a node-side job over a fake transport: a node that fails leaves every node as it was."""

from __future__ import annotations

import pytest

from orchestrator.config.inventory import load_inventory
from orchestrator.errors import ExecutionError
from orchestrator.ops import jobs
from orchestrator.plan import jobs as job_plans
from orchestrator.remote.transport import Result
from tests.unit.conftest import EXAMPLE_INVENTORY
from tests.unit.ops.test_doctor_ops import FakeSession

A, B = "GoldFinger", "GoldFinger2"


def test_a_failed_install_takes_the_job_off_the_nodes_that_did_not_have_it():
    inventory = load_inventory(EXAMPLE_INVENTORY)

    def answer(node, script):
        if "does not list sparkctl's jobs" in script:  # the install script
            if node.name == B:
                return Result(node.name, 1, "", "sparkctl: neither systemd nor cron runs on GoldFinger2", 0.01)
            return Result(node.name, 0, "scheduler=cron\n", "", 0.01)
        if "left=none" in script:  # the remove script
            return Result(node.name, 0, "left=none\n", "", 0.01)
        had = "guard_conf=every=60\n" if node.name == A else ""
        return Result(node.name, 0, f"now=1\n{had}", "", 0.01)

    session = FakeSession(inventory, answer)
    with pytest.raises(ExecutionError, match="GoldFinger2"):
        jobs.apply(session, inventory.nodes, job_plans.GUARD, "every=60", None)
    removed = [node for node, script in session.transport.scripts if "left=none" in script]
    assert removed == [B], "GoldFinger had the guard before: it keeps it"
