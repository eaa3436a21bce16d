"""The terminal progress reporter draws one line per running phase and keeps step lines above it."""

from __future__ import annotations

import io
import re

from orchestrator.report.events import Event, Reporter
from orchestrator.report.progress import LiveReporter, reporter_for

CURSOR_UP = re.compile(r"\x1b\[(\d+)A")


def plain(text: str) -> str:
    """What stays on screen, roughly: the text without cursor moves and clears."""
    return re.sub(r"\r|\x1b\[\d*[AJ]", "", text)


def test_live_reporter_shows_phases_nodes_and_steps():
    out = io.StringIO()
    reporter = LiveReporter(out, width=120)
    reporter(Event("phase-start", "preflight", message="Preflight"))
    reporter(Event("step-done", "preflight", "spark1", "check docker", 0.4))
    reporter(Event("step-done", "preflight", "spark2", "check docker", 0.5))
    reporter(Event("phase-done", "preflight", message="Preflight", seconds=0.5))
    reporter.close()
    text = plain(out.getvalue())
    assert "Preflight" in text
    assert "[preflight] spark1: check docker (0.4s)" in text
    assert "[preflight] spark2: check docker (0.5s)" in text
    assert "Preflight  2 done: spark1, spark2  0:00:00  done" in text


def test_each_redraw_moves_back_over_exactly_the_status_lines_it_drew():
    out = io.StringIO()
    reporter = LiveReporter(out, width=80)
    reporter(Event("phase-start", "pull", message="Pull"))
    reporter(Event("phase-start", "sync", message="Sync"))
    reporter(Event("step-done", "pull", "spark1", "pull image", 1.0))
    reporter.close()
    writes = out.getvalue().split("\r")[1:]
    drawn = [0]
    for write in writes:
        up = CURSOR_UP.search(write)
        assert (int(up.group(1)) if up else 0) == drawn[-1], writes
        drawn.append(sum(1 for line in write.split("\n")[:-1] if plain(line).startswith(tuple("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"))))
    assert drawn[-1] == 0, "close leaves no status line to redraw"
    assert "Sync  0:00:00  stopped" in plain(out.getvalue()), "a phase still running keeps its last line"


def test_a_step_line_cannot_send_escape_sequences_to_the_terminal():
    out = io.StringIO()
    reporter = LiveReporter(out, width=80)
    reporter(Event("step-failed", "up", "spark1", "stderr: \x1b]0;owned\x07\x1b[2J"))
    reporter.close()
    text = out.getvalue()
    assert "\x1b]" not in text and "\x07" not in text and "\x1b[2J" not in text
    assert "stderr: \\x1b]0;owned\\x07\\x1b[2J" in text


def test_status_lines_are_cut_to_the_terminal_width():
    out = io.StringIO()
    reporter = LiveReporter(out, width=40)
    reporter(Event("phase-start", "pull", message="Pull"))
    for node in range(1, 33):
        reporter(Event("step-done", "pull", f"spark{node}", "pull image", 1.0))
    reporter.close()
    status = [line for write in out.getvalue().split("\r") for line in write.split("\n") if plain(line).startswith("⠋")]
    assert status and all(len(plain(line)) <= 39 for line in status)


def test_a_terminal_that_cannot_move_its_cursor_gets_plain_lines(monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    monkeypatch.setenv("TERM", "dumb")
    assert type(reporter_for(False)) is Reporter
    monkeypatch.setenv("TERM", "xterm-256color")
    live = reporter_for(False)
    live.close()
    assert isinstance(live, LiveReporter)
