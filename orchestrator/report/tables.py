"""Tables that fit the terminal (80 columns included) without breaking a word; `--wide` shows everything."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

WIDE_WIDTH = 100_000


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


def _table(title: str, headers: list[str], texts: list[bool]):
    from rich import box
    from rich.table import Table

    grid = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                 padding=(0, 1, 0, 0))
    for header, text in zip(headers, texts, strict=True):
        grid.add_column(header, no_wrap=not text, overflow="fold" if text else "ellipsis")
    return grid


def narrowest(column: list[str], text: bool) -> int:
    """The fewest terminal cells a column (header first) needs: its longest word if free text, else its widest cell."""
    from rich.cells import cell_len

    return max(cell_len(part) for cell in column for part in (cell.split() if text else cell.splitlines()) or [""])


def needed_width(console, headers: list[str], shown: list[list[str]], texts: list[bool]) -> int:
    """Terminal cells the table needs with free text wrapped as tightly as its words allow."""
    columns = [[header, *(row[i] for row in shown)] for i, header in enumerate(headers)]
    widths = [narrowest(column, text) for column, text in zip(columns, texts, strict=True)]
    probe = _table("", ["" for _ in widths], texts)
    probe.add_row(*("x" * width for width in widths))
    from rich.measure import Measurement

    return Measurement.get(console, console.options.update_width(WIDE_WIDTH), probe).maximum


def fitted(console, title: str, columns: list[Column], rows: list[list[str]], wide: bool):
    """The first layout that fits the console (the most compact one if none does): the table and its legend."""
    for layout in layouts(columns, rows):
        headers = [columns[i].header for i in layout.columns]
        texts = [columns[i].fit is Fit.TEXT and not wide for i in layout.columns]
        shown, legend = shown_rows(columns, rows, layout)
        if wide or needed_width(console, headers, shown, texts) <= console.width:
            break
    from rich.text import Text

    grid = _table(title, headers, texts)
    for row in shown:
        grid.add_row(*(Text(cell) for cell in row))  # Text, not markup: cells hold what nodes and files say
    return grid, [Text(line) for line in legend]
