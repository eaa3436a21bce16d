"""`--wide`: tables show every column, unwrapped; accepted before the command or after it, like `--json`."""

from __future__ import annotations

import click

from orchestrator.cli.completion import walk

TABLE_COMMANDS = ("up", "status", "drop-caches", "recipes list", "bench", "bench list", "bench show", "bench compare")


def _set_wide(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    from orchestrator.report import console

    # The top-level option sets it on every invocation, so a previous in-process run never leaks into this one.
    if value or ctx.parent is None:
        console.set_wide(value)


def _option() -> click.Option:
    return click.Option(["--wide"], is_flag=True, expose_value=False, callback=_set_wide,
                        help="Show every table column in full, however wide.")


def register(cli: click.Group) -> None:
    """Add `--wide` to the top level and to every command that prints a table."""
    cli.params.append(_option())
    for path, command in walk(cli):
        if path in TABLE_COMMANDS:
            command.params.append(_option())
