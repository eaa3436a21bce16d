"""`sparkctl apply` and `sparkctl diff`: converge the nodes to a stack file, or show what that would change."""

from __future__ import annotations

import sys

import click


def _stack_options(func):
    """Options shared by `apply` and `diff`."""
    for decorator in reversed([
        click.argument("stack_file", required=False, metavar="[STACK]"),
        click.option("--stack", "stack_option", metavar="FILE", help="The stack file (default ./stack.yaml)."),
        click.option("--force", is_flag=True, help="Launch even if a recipe breaks lint rules."),
    ]):
        func = decorator(func)
    return func


@click.command()
@_stack_options
@click.option("--yes", "-y", is_flag=True, help="Carry out the changes without asking.")
@click.option("--keep-on-failure", is_flag=True, help="Leave a failed deployment's containers for inspection.")
@click.option("--timeout", type=float, default=1200.0, show_default=True, help="Readiness deadline, seconds.")
@click.option("--ray-timeout", type=float, default=180.0, show_default=True,
              help="Deadline for Ray to see every node, seconds.")
@click.pass_context
def apply(ctx, stack_file, stack_option, force, yes, keep_on_failure, timeout, ray_timeout):
    """Converge the nodes to a stack file: remove, replace and create deployments until they match it."""
    from orchestrator.ops import stack
    from orchestrator.ops.up import Deadlines

    settings = ctx.find_root().obj
    path = stack.stack_path(stack_file, stack_option)
    request = stack.prepare_stack(settings, path, force, Deadlines(ready=timeout, ray=ray_timeout))
    confirm = (lambda q: click.confirm(q, err=True)) if sys.stdin.isatty() and not settings.json else None
    stack.apply(settings, request, yes, keep_on_failure, confirm)


@click.command()
@_stack_options
@click.option("--commands", is_flag=True, help="Also print every step of each deployment to create or replace.")
@click.pass_context
def diff(ctx, stack_file, stack_option, force, commands):
    """Show what 'apply' would change on the nodes; change nothing."""
    from orchestrator.ops import stack
    from orchestrator.ops.up import Deadlines

    settings = ctx.find_root().obj
    request = stack.prepare_stack(settings, stack.stack_path(stack_file, stack_option), force, Deadlines())
    stack.show_diff(settings, request, commands)


def register(cli: click.Group) -> None:
    """Add apply and diff to the command line."""
    cli.add_command(apply)
    cli.add_command(diff)
