"""The click commands: parse, then hand over to app/up. Imports stay lazy for a fast --help."""

from __future__ import annotations

import atexit
import gc
import sys

import click

TOPOLOGIES = click.Choice(["solo", "cluster", "replicas"])
# At exit the interpreter's last collections walk every object still alive: ~40 ms of a one-node command's ~300.
# The process is ending and the OS reclaims its memory, so the objects are frozen out of those collections.
atexit.register(gc.freeze)
# Start-up builds ~10^5 long-lived objects (click commands, pydantic models, templates); Python's default young
# generation of 700 would walk them all again in several full collections. Garbage that only cycles free waits longer.
gc.set_threshold(100_000, 10, 10)


def _settings(ctx: click.Context):
    return ctx.obj


def _up_options(func):
    """Options shared by `up` and `plan`."""
    for decorator in reversed([
        click.argument("topology", type=TOPOLOGIES),
        click.argument("recipe"),
        click.option("--nodes", help="Comma-separated node names (default: the first nodes the recipe needs)."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a vLLM arg of the recipe."),
        click.option("-e", "--env", "env", multiple=True, metavar="KEY[=VAL]",
                     help="Container env; '-e NAME' forwards NAME from this shell as a secret."),
        click.option("--force", is_flag=True, help="Launch even if the recipe breaks lint rules."),
        click.option("--backend", type=click.Choice(["ray", "mp"]),
                     help="How a cluster's nodes work together: Ray, or vLLM's own multi-node launch (default: "
                          "the recipe's, else ray)."),
    ]):
        func = decorator(func)
    return func


def _json_anywhere(ctx: click.Context, _param, value: bool) -> None:
    """`--json` after a command means the same as before it: switch every enclosing context's settings."""
    if not value:
        return
    from dataclasses import replace

    while ctx is not None:
        if ctx.obj is not None and not ctx.obj.json:
            ctx.obj = replace(ctx.obj, json=True)
        ctx = ctx.parent


def _with_json_option(command: click.Command) -> click.Command:
    """Give a command (and a group's commands) its own `--json`, so users may put it last."""
    if not any(p.name == "json_anywhere" for p in command.params):
        command.params.append(click.Option(["--json", "json_anywhere"], is_flag=True, expose_value=False,
                                           callback=_json_anywhere, help="Machine-readable output."))
    for sub in getattr(command, "commands", {}).values():
        _with_json_option(sub)
    return command


class SparkGroup(click.Group):
    """A group whose commands all accept `--json`, wherever the user types it."""

    group_class = type

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(_with_json_option(cmd), name)


@click.group(cls=SparkGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--inventory", "-i", envvar="SPARKCTL_INVENTORY", help="Inventory file (default ./inventory.yaml).")
@click.option("--recipes-dir", help="Look for recipes here first.")
@click.option("--templates-dir", help="Override the built-in shell templates with copies here.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="sparkctl")
@click.pass_context
def cli(ctx: click.Context, inventory, recipes_dir, templates_dir, as_json, debug):
    """Run vLLM on DGX Spark boxes from recipes: solo, cluster (Ray) or replicas."""
    from orchestrator.config.settings import Settings

    ctx.obj = Settings(inventory, recipes_dir, templates_dir, as_json, debug)


@cli.command()
@_up_options
@click.option("--dry-run", is_flag=True, help="Print the plan; connect to nothing.")
@click.option("--replace", is_flag=True, help="Tear down a different running deployment first.")
@click.option("--keep-on-failure", is_flag=True, help="Leave containers for inspection when up fails.")
@click.option("--timeout", type=float, default=1200.0, show_default=True, help="Readiness deadline, seconds.")
@click.option("--ray-timeout", type=float, default=180.0, show_default=True,
              help="Deadline for Ray to see every node, seconds.")
@click.option("--setup", is_flag=True, help="First sync the image and the model to the nodes (images/models sync).")
@click.option("--no-bench", is_flag=True, help="Skip the benchmark a recipe asks to run after up (benchmark.after_up).")
@click.option("--tokenizer", metavar="DIR", help="For that benchmark: the model's tokenizer.json directory.")
@click.option("--book", metavar="FILE", help="For that benchmark: a plain-text file to build prompts from.")
@click.pass_context
def up(ctx, topology, recipe, nodes, sets, env, force, backend, dry_run, replace, keep_on_failure, timeout, ray_timeout,
       setup, no_bench, tokenizer, book):
    """Bring RECIPE up as solo, cluster or replicas."""
    from orchestrator.ops import up as ops_up

    request = ops_up.prepare_up(_settings(ctx), topology, recipe, nodes, sets, env, force, backend)
    deadlines = ops_up.Deadlines(ready=timeout, ray=ray_timeout)
    if dry_run:
        ops_up.show_plan(_settings(ctx), request, deadlines, _setup_plan(ctx, request) if setup else None)
        return
    if setup:
        from orchestrator.cli.sync import setup as sync_setup

        sync_setup(_settings(ctx), request.inventory, request.recipe, request.layout.nodes, secrets=request.secrets)
    ops_up.up(_settings(ctx), request, replace=replace, keep_on_failure=keep_on_failure, deadlines=deadlines)
    if request.recipe.benchmark.after_up and not no_bench:
        from orchestrator.bench import run as running

        running.run_bench(_settings(ctx), running.Request(tokenizer=tokenizer, book=book))


@cli.command()
@_up_options
@click.option("--setup", is_flag=True, help="Show the images/models sync phases first, as up --setup runs them.")
@click.pass_context
def plan(ctx, topology, recipe, nodes, sets, env, force, backend, setup):
    """Print every phase and every node's exact commands (a dry run)."""
    from orchestrator.ops import up as ops_up

    request = ops_up.prepare_up(_settings(ctx), topology, recipe, nodes, sets, env, force, backend)
    ops_up.show_plan(_settings(ctx), request, ops_up.Deadlines(), _setup_plan(ctx, request) if setup else None)


def _setup_plan(ctx, request):
    from orchestrator.cli.sync import setup_plan

    return setup_plan(_settings(ctx), request.recipe, request.layout.nodes)


@cli.command()
@click.option("--nodes", help="Only these nodes (default: every inventory node).")
@click.option("--stack", "stack_file", metavar="FILE", help="Only the deployments of this stack file.")
@click.pass_context
def down(ctx, nodes, stack_file):
    """Remove sparkctl's containers from every node and verify none survive."""
    if stack_file:
        from orchestrator.ops import stack

        if nodes:
            raise click.UsageError("pass either --stack or --nodes, not both")
        stack.down_stack(_settings(ctx), stack.stack_path(stack_file, None))
        return
    from orchestrator.ops import down

    down.down(_settings(ctx), nodes)


@cli.command("drop-caches")
@click.option("--all", "all_nodes", is_flag=True, help="Every inventory node.")
@click.option("--nodes", help="Comma-separated node names.")
@click.pass_context
def drop_caches(ctx, all_nodes, nodes):
    """Drop the page cache on nodes, showing MemAvailable before and after."""
    from orchestrator.ops import caches

    caches.drop_caches(_settings(ctx), nodes, all_nodes)


@cli.command()
@click.argument("name", required=False)
@click.option("--show-key", is_flag=True, help="Print only the replicas proxy's key (for OPENAI_API_KEY).")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C (or --count refreshes).")
@click.option("--interval", type=click.FloatRange(1, 3600), default=5.0, show_default=True,
              help="With --watch: seconds between refreshes.")
@click.option("--count", type=click.IntRange(1, 100000), default=720, show_default=True,
              help="With --watch: stop after this many refreshes.")
@click.pass_context
def status(ctx, name, show_key, watch, interval, count):
    """Show what runs on each node (or only NAME: a stack's deployment, a stack, or a deployment id)."""
    from orchestrator.ops import status

    if watch:
        if name:
            raise click.UsageError("--watch shows every deployment; drop NAME")
        from orchestrator.ops.status_watch import watch as watching

        watching(_settings(ctx), interval, count)
        return
    status.status(_settings(ctx), show_key, name)


@cli.command()
@click.option("--node", help="Only this node.")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming; Ctrl-C detaches.")
@click.option("--tail", type=int, default=100, show_default=True, help="Lines from the end.")
@click.pass_context
def logs(ctx, node, follow, tail):
    """Show the containers' logs, each line prefixed with its node."""
    from orchestrator.ops import logs

    logs.logs(_settings(ctx), node, follow, tail)


@cli.command()
@click.argument("node")
@click.pass_context
def unlock(ctx, node):
    """Show who holds NODE's cluster lock and clear it (a sparkctl cut off by the network keeps it for minutes)."""
    from orchestrator.ops import unlock as unlocking

    unlocking.unlock(_settings(ctx), node)


@cli.command()
@click.option("--local-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on this workstation (0: any free one).")
@click.option("--seconds", type=float, hidden=True, help="Close after this long (for scripts and tests).")
@click.option("--deployment", "name", help="Which deployment, when several run (a stack's deployment name or an id).")
@click.pass_context
def tunnel(ctx, local_port, seconds, name):
    """Reach the deployment's endpoint through SSH, when only port 22 of the nodes is reachable."""
    from orchestrator.ops import tunnel as tunnels

    tunnels.tunnel(_settings(ctx), local_port, seconds, name)


def _add_groups() -> None:
    # click only: each group's heavy imports stay inside its commands.
    from orchestrator.cli import doctor, stack, sync, watch
    from orchestrator.cli import jobs as node_jobs
    from orchestrator.cli.bench import bench
    from orchestrator.cli.recipes import recipes

    cli.add_command(recipes)
    cli.add_command(bench)
    sync.register(cli)
    doctor.register(cli)
    watch.register(cli)
    stack.register(cli)
    node_jobs.register(cli)


_add_groups()


def _register_tools() -> None:
    from orchestrator.cli import completion, wide
    from orchestrator.cli.schema import schema

    cli.add_command(schema)
    wide.register(cli)
    completion.register(cli)  # last: it walks every command registered above


_register_tools()


def main(argv: list[str] | None = None) -> None:
    """Entry point: one error boundary turning SparkctlError into a clear message and exit code."""
    try:
        cli.main(args=argv, prog_name="sparkctl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the one boundary that turns failures into messages
        sys.exit(_report(exc, argv))


def _report(exc: Exception, argv: list[str] | None) -> int:
    from orchestrator.errors import SparkctlError

    args = sys.argv[1:] if argv is None else argv
    if isinstance(exc, SparkctlError) and "--debug" not in args:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    raise exc
