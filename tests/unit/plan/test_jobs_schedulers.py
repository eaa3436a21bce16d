"""The jobs scripts' scheduler choice, run in bash against recorded stand-ins for systemctl, loginctl, crontab,
docker and id in a temporary HOME (the cron path runs for real on the simulated nodes; these cover systemd)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator.config.jobspec import Watchdog
from orchestrator.plan import jobs
from orchestrator.remote.transport import PREAMBLE

FAKES = {
    "systemctl": 'echo "systemctl $*" >> "$CALLS"; if [ "$1" = is-system-running ]; then echo "$SYSTEM_STATE"; fi',
    "loginctl": 'echo "$LINGER"',
    "crontab": ('echo "crontab $*" >> "$CALLS"; if [ "$1" = -l ]; then cat "$HOME/tab" 2>/dev/null || exit 1;'
                ' elif [ "$1" = -r ]; then rm -f "$HOME/tab"; else cat > "$HOME/tab"; fi'),
    "docker": "exit 0",
    "id": 'if [ "$1" = -u ]; then echo 1000; else echo spark; fi',
}


@pytest.fixture
def node(tmp_path: Path):
    """Run a script as a non-root user whose systemd state and lingering the test chooses."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKES.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()

    def run(script: str, system_state: str, linger: str) -> subprocess.CompletedProcess:
        env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(home), "CALLS": str(tmp_path / "calls"),
               "SYSTEM_STATE": system_state, "LINGER": linger}
        return subprocess.run(["bash", "-se"], input=PREAMBLE + script, text=True, capture_output=True, env=env, timeout=60,
                              check=False)

    run.home, run.calls = home, tmp_path / "calls"
    return run


def _install() -> str:
    return jobs.install_script(None, jobs.WATCHDOG, jobs.watchdog_conf(Watchdog(check="5s")))


def test_a_lingering_user_on_systemd_gets_a_user_timer_at_the_check_interval(node):
    result = node(_install(), "running", "yes")
    assert result.returncode == 0, result.stderr
    assert "scheduler=systemd-user" in result.stdout
    timer = (node.home / ".config/systemd/user/sparkctl-jobs.timer").read_text()
    service = (node.home / ".config/systemd/user/sparkctl-jobs.service").read_text()
    assert "OnUnitActiveSec=5s" in timer and "WantedBy=timers.target" in timer
    assert f"ExecStart=/bin/bash {node.home}/.local/state/sparkctl/jobs/runner.sh once" in service
    calls = node.calls.read_text()
    assert "systemctl --user enable sparkctl-jobs.timer" in calls and "crontab" not in calls

    removed = node(jobs.remove_script(None, jobs.WATCHDOG), "running", "yes")
    assert removed.returncode == 0 and "left=none" in removed.stdout, removed.stderr
    assert "systemctl --user disable --now sparkctl-jobs.timer" in node.calls.read_text()
    assert not (node.home / ".local").exists() and not (node.home / ".config/systemd/user/sparkctl-jobs.timer").exists()


def test_without_lingering_or_without_systemd_cron_runs_the_jobs(node):
    for state, linger in (("running", "no"), ("offline", "yes")):
        result = node(_install(), state, linger)
        assert result.returncode == 0 and "scheduler=cron" in result.stdout, result.stderr
    assert (node.home / "tab").read_text().count("sparkctl-jobs") == 1, "installing again keeps one entry"
    (node.home / "tab").write_text("0 3 * * * backup\n" + (node.home / "tab").read_text())
    assert "left=none" in node(jobs.remove_script(None, jobs.WATCHDOG), "offline", "no").stdout
    assert (node.home / "tab").read_text() == "0 3 * * * backup\n", "the user's own entries stay"
