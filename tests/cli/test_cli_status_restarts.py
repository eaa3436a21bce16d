"""`status` says which containers docker restarted and when, under a table that still fits 80 columns."""

from __future__ import annotations

from orchestrator.ops import status
from tests.cli.test_cli_tables import REPLICA_ROWS, assert_fits, eighty_columns, flat  # noqa: F401 - fixture

WHEN = "2026-11-27 12:08:37 UTC (restarts: 2)"


def test_status_with_restarts_fits_and_names_when(capsys):
    rows = [{**row, "restarted": WHEN if row["node"] == "GoldFinger" else ""} for row in REPLICA_ROWS]
    status.print_table(rows)
    out = capsys.readouterr().out
    table, notes = out.split("\nrestarted: ", 1)
    assert_fits(table, ["sparkctl status", *flat(REPLICA_ROWS)])
    assert ("restarted: " + notes).splitlines() == [f"restarted: GoldFinger proxy at {WHEN}",
                                                    f"restarted: GoldFinger replica at {WHEN}"]
