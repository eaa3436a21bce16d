"""`top`'s live view: redrawn in place on a terminal, printed once (the last frame) anywhere else."""

from __future__ import annotations

import io
import re

import pytest

from orchestrator.report.live import show_live


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def frames(count: int, rows: int = 2):
    for n in range(count):
        yield [(f"frame {n}", ["node", "state"], [[f"spark{i}", f"up {n}"] for i in range(rows)])]


def test_each_frame_moves_back_over_the_lines_of_the_one_before(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    out = Terminal()
    show_live(frames(3), out)
    text = out.getvalue()
    assert re.findall(r"\x1b\[(\d+)A", text) == ["5", "5"]  # title, header, rule, two rows; not before the first
    assert text.count("\x1b[J") == 3 and text.startswith("\x1b[?25l") and text.endswith("\x1b[?25h")
    assert "frame 2" in text.rsplit("\x1b[5A", 1)[1]


def test_lines_wider_than_the_terminal_are_cut_so_none_wraps(monkeypatch):
    monkeypatch.setenv("COLUMNS", "20")
    monkeypatch.setenv("LINES", "24")
    out = Terminal()
    show_live([[("t", ["node", "message"], [["spark1", "x" * 50]])]], out)
    drawn = re.sub(r"\x1b\[[?\d]*[a-zA-Z]|\r", "", out.getvalue()).splitlines()
    assert drawn and max(len(line) for line in drawn) <= 20


def test_a_frame_taller_than_the_terminal_is_cut_so_nothing_scrolls(monkeypatch):
    monkeypatch.setenv("LINES", "6")
    monkeypatch.setenv("COLUMNS", "80")
    out = Terminal()
    show_live(frames(2, rows=10), out)
    assert re.findall(r"\x1b\[(\d+)A", out.getvalue()) == ["5"]  # one line less than the terminal's height


def test_not_a_terminal_only_the_last_frame_is_printed_whole():
    out = io.StringIO()
    show_live(frames(3, rows=1), out)
    assert out.getvalue() == "frame 2\nnode    state\n─────────────\nspark0  up 2\n"


def test_the_last_frame_is_printed_when_ctrl_c_ends_the_view():
    out = io.StringIO()

    def interrupted():
        yield from frames(2)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        show_live(interrupted(), out)
    assert out.getvalue().startswith("frame 1\n") and "\x1b" not in out.getvalue()
