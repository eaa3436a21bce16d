"""The node-side jobs' scripts: valid bash, settings as integers only, the runner passed as one quoted word."""

from __future__ import annotations

import subprocess

import pytest

from orchestrator.config.jobspec import Guard, Watchdog
from orchestrator.plan import jobs


def _bash_ok(script: str) -> None:
    result = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr


def test_every_script_is_valid_bash():
    conf = jobs.guard_conf(Guard(every="10s", below="8GiB", check="3s"))
    for script in (jobs.install_script(None, jobs.GUARD, conf), jobs.remove_script(None, jobs.WATCHDOG),
                   jobs.status_script(None), jobs.runner_script(None)):
        _bash_ok(script)


def test_settings_files_hold_integers_only():
    assert jobs.guard_conf(Guard(every="10s", below="8GiB", check="3s")) == "every=10\nbelow_kb=8388608\ncheck=3"
    assert jobs.guard_conf(Guard(every=None, below="1GiB")) == "every=0\nbelow_kb=1048576\ncheck=60"
    assert jobs.watchdog_conf(Watchdog(after=2, budget=1, check="3s", deadline="5s")) == (
        "after=2\nbudget=1\ncheck=3\ndeadline=5")


def test_install_writes_the_runner_from_stdin_text_not_a_download():
    script = jobs.install_script(None, jobs.GUARD, "every=1\nbelow_kb=0\ncheck=2")
    assert "printf '%s\\n' '#!/bin/bash" in script
    assert "sudo -n tee /proc/sys/vm/drop_caches" in script  # the one command a non-root user may sudo
    assert "curl" not in script.split("#!/bin/bash", 1)[0]


@pytest.mark.parametrize("job", jobs.JOBS)
def test_plans_name_the_job_on_every_node(job, inventory):
    on = jobs.plan_job_on(inventory.nodes, job, "check=60")
    off = jobs.plan_job_off(inventory.nodes, job)
    assert [s.node for s in on.phases[0].steps] == [n.name for n in inventory.nodes]
    assert off.phases[0].tolerant and not on.phases[0].tolerant


def test_the_runner_ticks_at_the_shortest_check_interval(tmp_path):
    runner = tmp_path / "runner.sh"
    runner.write_text(jobs.runner_script(None))
    (tmp_path / "guard.conf").write_text(jobs.guard_conf(Guard(check="30s")) + "\n")
    tick = subprocess.run(["bash", str(runner), "tick"], capture_output=True, text=True, check=True, timeout=30)
    assert tick.stdout.strip() == "30"
    (tmp_path / "watchdog.conf").write_text(jobs.watchdog_conf(Watchdog(check="5s")) + "\n")
    tick = subprocess.run(["bash", str(runner), "tick"], capture_output=True, text=True, check=True, timeout=30)
    assert tick.stdout.strip() == "5"
