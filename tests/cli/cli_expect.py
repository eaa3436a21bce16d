"""Assertions shared by the CLI tests (a uniquely named module: several conftest.py files exist)."""

from __future__ import annotations

from typing import Any


def assert_clean_failure(outcome: Any, code: int, *fragments: str) -> None:
    """Non-zero exit, one `error:` message containing every fragment, no traceback."""
    assert outcome.code == code, (outcome.code, outcome.err)
    assert "Traceback" not in outcome.err + outcome.out
    assert outcome.err.startswith("error: "), outcome.err
    for fragment in fragments:
        assert fragment in outcome.err, f"{fragment!r} not in {outcome.err!r}"
