"""The terminal progress reporter draws one line per phase and keeps step lines."""

from __future__ import annotations

import io

from rich.console import Console

from orchestrator.report.events import Event
from orchestrator.report.progress import LiveReporter


def test_live_reporter_shows_phases_nodes_and_steps():
    out = io.StringIO()
    reporter = LiveReporter(Console(file=out, force_terminal=True, width=120))
    reporter(Event("phase-start", "preflight", message="Preflight"))
    reporter(Event("step-done", "preflight", "spark1", "check docker", 0.4))
    reporter(Event("step-done", "preflight", "spark2", "check docker", 0.5))
    reporter(Event("phase-done", "preflight", message="Preflight", seconds=0.5))
    reporter.close()
    text = out.getvalue()
    assert "Preflight" in text
    assert "[preflight] spark1: check docker (0.4s)" in text
    assert "[preflight] spark2: check docker (0.5s)" in text
    assert "done" in text
