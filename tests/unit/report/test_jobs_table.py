"""Rows of the node-side jobs table, from the facts the status script prints."""

from __future__ import annotations

from orchestrator.report.jobs_table import job_rows

NOW = 1_800_000_000


def test_guard_row_shows_settings_last_run_and_what_the_last_drop_freed():
    facts = {"spark1": {"now": str(NOW), "scheduler": "cron", "scheduler_active": "yes",
                        "guard_conf": "every=1800 below_kb=8388608 check=60 ", "guard_last_run": str(NOW - 30),
                        "guard_last_drop": f"{NOW - 120} drop reason=below before_kb=4194304 after_kb=10485760"}}
    [row] = job_rows(facts)
    assert row == {"node": "spark1", "job": "guard", "scheduler": "cron",
                   "settings": "every 30m, below 8.0 GiB, check 1m", "last run": "30s ago",
                   "last action": "dropped 2m ago (below): MemAvailable 4.0 GiB -> 10.0 GiB, freed 6.0 GiB"}


def test_watchdog_row_counts_restarts_and_a_missing_scheduler_entry_is_named():
    facts = {"spark1": {"now": str(NOW), "scheduler": "systemd", "scheduler_active": "no",
                        "watchdog_conf": "after=3 budget=2 check=60 deadline=20", "watchdog_last_run": "",
                        "watchdog_restarts_hour": "2",
                        "watchdog_last": f"{NOW - 5} over-budget container=c failures=3 restarts_last_hour=2"}}
    [row] = job_rows(facts)
    assert row["scheduler"].startswith("systemd (entry missing")
    assert row["last run"] == "never"
    assert row["last action"] == ("2 restart(s) in the last hour; last: over-budget 5s ago "
                                  "(container=c failures=3 restarts_last_hour=2)")


def test_nodes_without_jobs_have_no_rows():
    assert job_rows({"spark1": {"now": str(NOW)}, "spark2": {}}) == []
