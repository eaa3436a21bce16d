"""Tables that fit the terminal (80 columns included) without breaking a word; `--wide` shows everything."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from orchestrator.report import render


class Fit(Enum):
    """What a column gives up when the table is too wide for the terminal."""

    KEEP = "keep"  # always shown whole, never wrapped
    TEXT = "text"  # free text: wraps between words
    LEGEND = "legend"  # long identifiers: a number in the table, the value in a legend below it
    WIDE = "wide"  # facts shown elsewhere too: left out unless there is room


@dataclass(frozen=True)
class Column:
    """A table column: its header and how it fits."""

    header: str
    fit: Fit = Fit.KEEP


@dataclass(frozen=True)
class Layout:
    """One way to show the table: the columns kept, and which of them become legend numbers."""

    columns: tuple[int, ...]
    legend: tuple[int, ...] = ()


def as_column(column: str | Column) -> Column:
    """A plain header means a column that is always shown whole."""
    return column if isinstance(column, Column) else Column(column)


def layouts(columns: list[Column], rows: list[list[str]]) -> Iterator[Layout]:
    """Ever more compact layouts: everything; without WIDE and empty columns; then with legend numbers."""
    every = tuple(range(len(columns)))
    yield Layout(every)
    narrow = tuple(i for i in every if columns[i].fit is not Fit.WIDE and any(row[i] for row in rows))
    yield Layout(narrow)
    yield Layout(narrow, tuple(i for i in narrow if columns[i].fit is Fit.LEGEND))


def cells(rows: list[list[Any]]) -> list[list[str]]:
    """Every cell as text; None is empty."""
    return [["" if cell is None else str(cell) for cell in row] for row in rows]


def legend_refs(rows: list[list[str]], legend: tuple[int, ...]) -> dict[tuple[int, str], str]:
    """A short reference, [1], [2], ..., for each distinct value of the legend columns, in order of appearance."""
    refs: dict[tuple[int, str], str] = {}
    for row in rows:
        for index in legend:
            if row[index] and (index, row[index]) not in refs:
                refs[index, row[index]] = f"[{len(refs) + 1}]"
    return refs


def shown_rows(columns: list[Column], rows: list[list[str]], layout: Layout) -> tuple[list[list[str]], list[str]]:
    """The cells this layout shows, legend numbers in place of legend values (in free text too), and the legend."""
    refs = legend_refs(rows, layout.legend)
    by_value = {value: ref for (_, value), ref in refs.items()}

    def cell(row: list[str], index: int) -> str:
        if columns[index].fit is Fit.TEXT and by_value:
            return re.sub(r"\S+", lambda word: by_value.get(word.group(), word.group()), row[index])
        return refs.get((index, row[index]), row[index])

    named = len(layout.legend) > 1
    legend = [f"{ref} {columns[i].header + ': ' if named else ''}{value}" for (i, value), ref in refs.items()]
    return [[cell(row, i) for i in layout.columns] for row in rows], legend


def fitted(width: int | None, title: str, columns: list[Column], rows: list[list[str]],
           wide: bool) -> tuple[list[str], list[str]]:
    """The first layout that fits width (the most compact one if none does): the table's lines and its legend."""
    for layout in layouts(columns, rows):
        headers = [columns[i].header for i in layout.columns]
        texts = [columns[i].fit is Fit.TEXT and not wide for i in layout.columns]
        shown, legend = shown_rows(columns, rows, layout)
        if wide or width is None or render.needed_width(headers, shown, texts) <= width:
            break
    lines = render.table(title, headers, shown, texts, None if wide else width)
    return lines, [render.clean(line) for line in legend]  # cells hold what nodes and files say
