"""`sparkctl guard` and `sparkctl watchdog`: node-side jobs run by each node's systemd timer or cron."""

from __future__ import annotations

import click

_NODES = click.option("--nodes", help="Comma-separated node names (default: every inventory node).")
_DRY_RUN = click.option("--dry-run", is_flag=True, help="Print what would run on each node; connect to nothing.")


def _spec(model, **given):
    """The job's settings, or a clear error naming the option and the fix."""
    from pydantic import ValidationError

    from orchestrator.errors import ConfigError

    try:
        return model(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]) if first.get("loc") else "an option"
        raise ConfigError(f"{option}: {first['msg'].removeprefix('Value error, ')}") from None


@click.group()
def guard():
    """Drop the page cache on schedule, and whenever MemAvailable falls below a threshold."""


@guard.command("on")
@click.option("--every", help="Drop this often, e.g. 30m (default 30m; 'off' for threshold drops only).")
@click.option("--below", metavar="SIZE", help="Also drop whenever MemAvailable falls below SIZE, e.g. 8GiB.")
@click.option("--check", metavar="DURATION", help="How often the node looks at MemAvailable (default 1m).")
@_NODES
@_DRY_RUN
@click.pass_context
def guard_on(ctx, every, below, check, nodes, dry_run):
    """Install (or update) the guard on the nodes, run it once, verify."""
    from orchestrator.config.jobspec import Guard
    from orchestrator.errors import ConfigError
    from orchestrator.ops import jobs

    spec = _spec(Guard, every=None if every == "off" else every, below=below, check=check)
    if every == "off":
        if not below:
            raise ConfigError("--every off leaves the guard nothing to do: give --below SIZE too")
        spec = spec.model_copy(update={"every": None})
    jobs.guard_on(ctx.find_root().obj, spec, nodes, dry_run)


@click.group()
def watchdog():
    """Restart a deployment that answers /health but gives no token, within a budget of restarts per hour."""


@watchdog.command("on")
@click.option("--after", type=click.IntRange(1, 100), help="Restart after this many stalled checks in a row (default 3).")
@click.option("--budget", type=click.IntRange(0, 100), help="At most this many restarts per hour and node (default 3).")
@click.option("--check", metavar="DURATION", help="How often the node probes (default 1m).")
@click.option("--deadline", metavar="DURATION", help="How long a probe waits for its token (default 20s).")
@_NODES
@_DRY_RUN
@click.pass_context
def watchdog_on(ctx, after, budget, check, deadline, nodes, dry_run):
    """Install (or update) the watchdog on the nodes, run it once, verify."""
    from orchestrator.config.jobspec import Watchdog
    from orchestrator.ops import jobs

    jobs.watchdog_on(ctx.find_root().obj, _spec(Watchdog, after=after, budget=budget, check=check, deadline=deadline),
                     nodes, dry_run)


def _off_and_status(group: click.Group, job: str) -> None:
    @group.command("off")
    @_NODES
    @click.pass_context
    def off(ctx, nodes):
        """Remove it from the nodes; nothing of it stays."""
        from orchestrator.ops import jobs

        jobs.job_off(ctx.find_root().obj, job, nodes)

    @group.command("status")
    @_NODES
    @click.pass_context
    def status(ctx, nodes):
        """Show the node-side jobs: scheduler, settings, last run, last action."""
        from orchestrator.ops import jobs

        jobs.show(ctx.find_root().obj, nodes)


_off_and_status(guard, "guard")
_off_and_status(watchdog, "watchdog")


def register(cli: click.Group) -> None:
    """Add `guard` and `watchdog` to the command line."""
    cli.add_command(guard)
    cli.add_command(watchdog)
