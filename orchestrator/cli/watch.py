"""`sparkctl top` and `sparkctl connect claude`: watch the running cluster, plug a coding agent into it."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--once", is_flag=True, help="Sample twice, --interval apart (for the token rates), print and exit.")
@click.option("--interval", type=click.FloatRange(0.2, 60), default=1.0, show_default=True,
              help="Seconds between refreshes.")
@click.option("--seconds", type=float, hidden=True, help="Stop the live view after this long (for scripts and tests).")
@click.pass_context
def top(ctx, once, interval, seconds):
    """Live view: per node memory, page cache and containers; per vLLM its requests, KV cache and tokens/s."""
    from orchestrator.ops import top as ops_top

    ops_top.top(ctx.find_root().obj, once, interval, seconds)


@click.group()
def connect():
    """Point a coding agent at the running deployment."""


@connect.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--exec", "run", is_flag=True, help="Run COMMAND... in that environment instead of printing it.")
@click.option("--tunnel", is_flag=True,
              help="Reach the endpoint through an SSH forward on 127.0.0.1 (open while COMMAND runs, or until Ctrl-C).")
@click.option("--local-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="With --tunnel: the local port (0: any free one).")
@click.option("--seconds", type=float, hidden=True, help="With --tunnel and no command: close after this long.")
@click.option("--deployment", "name", help="Which deployment, when several run (a stack's deployment name or an id).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def claude(ctx, run, tunnel, local_port, seconds, name, command):
    """Print the environment Claude Code needs (eval "$(sparkctl connect claude)"), or --exec claude in it."""
    from orchestrator.errors import ConfigError
    from orchestrator.ops import connect as ops_connect

    if run != bool(command):
        raise ConfigError("give --exec and the command together: sparkctl connect claude --exec claude")
    code = ops_connect.connect_claude(ctx.find_root().obj, tuple(command), tunnel, local_port, seconds, name)
    if code:
        sys.exit(code)


def register(cli: click.Group) -> None:
    """Add top and connect to the command line."""
    cli.add_command(top)
    cli.add_command(connect)
