"""The only module that prints: tables, findings, plain lines and JSON."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from typing import Any

import click

from orchestrator.report import tables
from orchestrator.report.tables import WIDE_WIDTH, Column

_options = {"wide": False}


def emit_json(data: Any) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(data, indent=2, default=str))


def print_findings(findings: list[Any], as_json: bool) -> None:
    """Lint findings (dataclasses with recipe, severity, rule, message), one per line."""
    if as_json:
        emit_json([asdict(f) for f in findings])
        return
    for f in findings:
        scope = f" (rule for {f.scope})" if getattr(f, "scope", "") else ""
        click.echo(f"{f.recipe}: {f.severity.value}: {f.rule}: {f.message}{scope}")
    if not findings:
        click.echo("no problems found")


def table(title: str, columns: list[str | Column], rows: list[list[Any]]) -> None:
    """A rich table on stdout that fits the terminal without breaking a word (all of it with `--wide`)."""
    from rich.console import Console

    wide = _options["wide"]
    console = Console(width=WIDE_WIDTH if wide else _width())
    grid, legend = tables.fitted(console, title, [tables.as_column(c) for c in columns], tables.cells(rows), wide)
    console.print(grid)
    for line in legend:
        console.print(line, soft_wrap=True)


def set_wide(wide: bool) -> None:
    """Show every column of every table, unwrapped (`--wide`); set on each invocation."""
    _options["wide"] = wide


def is_wide() -> bool:
    """Whether `--wide` asks for every column in full."""
    return _options["wide"]


def _width() -> int | None:
    """The terminal's width; $COLUMNS or 80 when stdout is not a terminal."""
    if isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 80


def info(message: str) -> None:
    """A plain line on stdout."""
    click.echo(message)


def warn(message: str) -> None:
    """A line on stderr."""
    click.echo(message, err=True)


def isatty() -> bool:
    """Whether stdout is an interactive terminal."""
    return sys.stdout.isatty()
