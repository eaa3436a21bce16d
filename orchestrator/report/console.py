"""The only module that prints: tables, findings, plain lines and JSON."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

import click


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


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    grid = Table(title=title, title_justify="left")
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(width=None if isatty() else 200).print(grid)


def info(message: str) -> None:
    """A plain line on stdout."""
    click.echo(message)


def warn(message: str) -> None:
    """A line on stderr."""
    click.echo(message, err=True)


def isatty() -> bool:
    """Whether stdout is an interactive terminal."""
    return sys.stdout.isatty()
