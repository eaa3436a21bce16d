"""Plain-text tables: widths in terminal cells, wrapping between words only, 80 columns, no control characters."""

from __future__ import annotations

from orchestrator.report import render, tables
from orchestrator.report.tables import Column, Fit

LONG = ("the engine did not answer on /health within the deadline; the last lines of its log say the "
        "KV cache does not fit in the memory left after the weights were loaded")


def test_cell_width_counts_wide_characters_twice_and_combining_marks_not_at_all():
    assert render.cell_width("spark1") == 6
    assert render.cell_width("日本語") == 6
    assert render.cell_width("e\u0301") == 1  # e + combining acute accent
    assert render.cell_width("ｓｐａｒｋ") == 10  # fullwidth forms


def test_wrap_breaks_only_between_words_and_gives_a_long_word_its_own_line():
    lines = render.wrap("a bb ccc dddddddddd e", 6)
    assert lines == ["a bb", "ccc", "dddddddddd", "e"]
    assert render.wrap("日本 語語語", 5) == ["日本", "語語語"]


def test_a_table_with_free_text_fits_80_columns_and_keeps_every_word():
    rows = [["spark1", "日本語のノード", LONG], ["spark2", "cafe\u0301", "ready"]]
    lines = render.table("health", ["node", "name", "message"], rows, [False, False, True], 80)
    assert max(render.cell_width(line) for line in lines) <= 80
    shown = " ".join(lines[3:]).split()
    assert set(shown) == {*LONG.split(), "spark1", "spark2", "日本語のノード", "cafe\u0301", "ready"}, lines
    assert lines[0] == "health" and lines[1].split() == ["node", "name", "message"]
    assert set(lines[2]) == {"─"} and render.cell_width(lines[2]) >= max(render.cell_width(line) for line in lines[3:])


def test_columns_line_up_in_terminal_cells_with_wide_characters():
    lines = render.table("", ["node", "state"], [["日本", "up"], ["ab", "down"]], [False, False], 80)
    starts = [render.cell_width(line[: line.index(state)]) for line, state in zip(lines[2:], ("up", "down"), strict=True)]
    assert starts == [6, 6]


def test_other_columns_never_wrap_even_when_too_wide():
    lines = render.table("t", ["id"], [["x" * 100]], [False], 80)
    assert lines[-1] == "x" * 100


def test_control_characters_in_cells_are_shown_escaped_never_sent():
    hostile = "ok\x1b[2J\x1b]0;title\x07\rgone\x08\x9b31m\u202eevil"
    lines = render.table("t\x1b[31m", ["h\x1b[1m"], [[hostile]], [True], 80)
    text = "\n".join(lines)
    assert not any(ord(char) < 32 and char != "\n" or 0x7F <= ord(char) <= 0x9F for char in text)
    assert "\u202e" not in text
    assert "ok\\x1b[2J\\x1b]0;title\\x07\\rgone\\x08\\x9b31m\\u202eevil" in text
    assert render.clean("a\tb\nc") == "a b\nc"


def test_a_legend_line_cannot_send_escape_sequences_either():
    columns = [Column("run", Fit.LEGEND), Column("status")]
    rows = tables.cells([["run-\x1b[2J" + "x" * 90, "ok"]])
    lines, legend = tables.fitted(80, "runs", columns, rows, wide=False)
    assert "[1]" in lines[-1] and legend == ["[1] run-\\x1b[2J" + "x" * 90]


def test_wide_shows_free_text_unwrapped():
    columns = [Column("node"), Column("message", Fit.TEXT)]
    lines, _ = tables.fitted(80, "t", columns, [["spark1", LONG]], wide=True)
    assert lines[-1] == f"spark1  {LONG}"
    narrow, _ = tables.fitted(80, "t", columns, [["spark1", LONG]], wide=False)
    assert len(narrow) > len(lines) and all(render.cell_width(line) <= 80 for line in narrow)
