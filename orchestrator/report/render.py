"""Plain-text tables for a terminal: cell widths (wide and combining characters), word wrap, safe cell text."""

from __future__ import annotations

import re
import unicodedata

GAP = "  "  # between columns
RULE = "─"  # under the header, as wide as the table
# C0 and C1 controls (ESC, CR, backspace, ...) and bidi overrides: a node's text must not steer the terminal
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """Text safe to print: a tab is a space, other control characters are shown escaped (\\x1b), never sent."""
    if text.isprintable():
        return text
    return _UNSAFE.sub(lambda m: " " if m.group() == "\t" else m.group().encode("unicode_escape").decode(), text)


def char_width(char: str) -> int:
    """Terminal cells one character takes: 0 for combining marks, 2 for wide East Asian ones, else 1."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cell_width(text: str) -> int:
    """Terminal cells a line of text takes."""
    if text.isascii():
        return len(text)
    return sum(char_width(char) for char in text)


def crop(line: str, width: int) -> str:
    """The line cut to at most width terminal cells."""
    if cell_width(line) <= width:
        return line
    used, end = 0, 0
    for end, char in enumerate(line):  # noqa: B007 - end is the cut
        used += char_width(char)
        if used > width:
            break
    return line[:end]


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most width cells, broken only between words (a longer word gets a line of its own)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0
        for word in paragraph.split():
            size = cell_width(word)
            if line and used + 1 + size > width:
                lines.append(line)
                line, used = "", 0
            line, used = (f"{line} {word}", used + 1 + size) if line else (word, size)
        lines.append(line)
    return lines


def narrowest(column: list[str], text: bool) -> int:
    """The fewest cells a column (header first) needs: its longest word if free text, else its widest line."""
    return max((cell_width(part) for cell in column for part in (cell.split() if text else cell.split("\n"))),
               default=0)


def widest(column: list[str]) -> int:
    """The cells a column needs unwrapped: its widest line."""
    return max((cell_width(line) for cell in column for line in cell.split("\n")), default=0)


def widths(headers: list[str], rows: list[list[str]], texts: list[bool], width: int | None) -> list[int]:
    """Each column's width: unwrapped if the table fits (or width is None), else the free-text columns (texts)
    narrowed, widest first, each never below its longest word."""
    columns = [[header, *(row[i] for row in rows)] for i, header in enumerate(headers)]
    full = [widest(column) for column in columns]
    gaps = len(GAP) * (len(headers) - 1)
    if width is None or sum(full) + gaps <= width:
        return full
    least = [narrowest(column, True) for column in columns]
    spare = width - gaps - sum(size for size, text in zip(full, texts, strict=True) if not text)

    def capped(cap: int) -> list[int]:
        return [max(low, min(size, cap)) if text else size for low, size, text in zip(least, full, texts, strict=True)]

    cap = max(full)
    while cap > 0 and sum(size for size, text in zip(capped(cap), texts, strict=True) if text) > spare:
        cap -= 1
    return capped(cap)


def table(title: str, headers: list[str], rows: list[list[str]], texts: list[bool], width: int | None) -> list[str]:
    """The table's lines: title, header, rule, rows; free-text columns (texts) wrapped to fit width if they can."""
    headers, rows = [clean(h) for h in headers], [[clean(cell) for cell in row] for row in rows]
    sizes = widths(headers, rows, texts, width)
    lines = _title(clean(title), width) if title else []
    lines += _row(headers, sizes, texts)
    lines.append(RULE * (sum(sizes) + len(GAP) * (len(sizes) - 1)))
    for row in rows:
        lines += _row(row, sizes, texts)
    return lines


def _row(cells: list[str], sizes: list[int], texts: list[bool]) -> list[str]:
    """One row as lines: each cell wrapped (free text) or split at its newlines, padded to its column."""
    parts = [wrap(cell, size) if text else cell.split("\n") for cell, size, text in zip(cells, sizes, texts, strict=True)]
    height = max((len(part) for part in parts), default=1)
    return [GAP.join(_pad(part[i] if i < len(part) else "", size) for part, size in zip(parts, sizes, strict=True))
            .rstrip() for i in range(height)]


def _title(title: str, width: int | None) -> list[str]:
    """The title as given, wrapped between words only when it is wider than the terminal."""
    return wrap(title, width) if width and cell_width(title) > width else [title]


def _pad(text: str, size: int) -> str:
    return text + " " * (size - cell_width(text))


def needed_width(headers: list[str], rows: list[list[str]], texts: list[bool]) -> int:
    """Terminal cells the table needs with free text wrapped as tightly as its words allow."""
    columns = [[header, *(row[i] for row in rows)] for i, header in enumerate(headers)]
    return sum(narrowest([clean(c) for c in column], text) for column, text in zip(columns, texts, strict=True)) + \
        len(GAP) * (len(headers) - 1)
