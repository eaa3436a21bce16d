"""The only module that prints: tables, findings, plain lines and JSON."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from typing import Any

import click

from orchestrator.report import tables
from orchestrator.report.tables import Column

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
    """A table on stdout that fits the terminal without breaking a word (all of it with `--wide`)."""
    lines, legend = tables.fitted(width(), title, [tables.as_column(c) for c in columns], tables.cells(rows),
                                  _options["wide"])
    click.echo("\n".join([*lines, *legend]))


def set_wide(wide: bool) -> None:
    """Show every column of every table, unwrapped (`--wide`); set on each invocation."""
    _options["wide"] = wide


def is_wide() -> bool:
    """Whether `--wide` asks for every column in full."""
    return _options["wide"]


def width() -> int:
    """The terminal's width: $COLUMNS, else the terminal's, else 80 (stdout is not a terminal)."""
    return shutil.get_terminal_size((80, 24)).columns


def info(message: str) -> None:
    """A plain line on stdout."""
    click.echo(message)


def warn(message: str) -> None:
    """A line on stderr."""
    click.echo(message, err=True)


def isatty() -> bool:
    """Whether stdout is an interactive terminal."""
    return sys.stdout.isatty()
