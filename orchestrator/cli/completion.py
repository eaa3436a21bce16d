"""Shell completion through click's own mechanism: `sparkctl completion SHELL` and what each argument completes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import click

PROG = "sparkctl"
COMPLETE_VAR = "_SPARKCTL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")

Completer = Callable[[click.Context, click.Parameter, str], list]


def lazy(name: str) -> Completer:
    """The completer `name` of orchestrator.cli.completers, imported only on <TAB> to keep start-up fast."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
        from orchestrator.cli import completers

        return getattr(completers, name)(ctx, param, incomplete)

    return complete


# Which parameters complete what, by command path and parameter name: the commands stay unaware of it.
COMPLETERS: dict[tuple[str, str], str] = {
    **{(path, "recipe"): "complete_recipe" for path in ("up", "plan", "images sync", "models sync")},
    **{("recipes " + sub, name): "complete_recipe" for sub, name in
       (("show", "name"), ("diff", "first"), ("diff", "second"), ("lint", "names"))},
    **{(path, "nodes"): "complete_nodes" for path in ("up", "plan", "down", "drop-caches", "images sync", "models sync")},
    ("logs", "node"): "complete_node",
    ("bench show", "run_id"): "complete_run",
    ("bench compare", "run_ids"): "complete_run",
}


def walk(group: click.Command, prefix: str = "") -> Iterable[tuple[str, click.Command]]:
    """Every command under group with its path, e.g. ('bench show', <command>)."""
    for name, command in getattr(group, "commands", {}).items():
        yield prefix + name, command
        yield from walk(command, f"{prefix}{name} ")


def attach(cli: click.Group) -> None:
    """Give every parameter in COMPLETERS its completion function."""
    for path, command in walk(cli):
        for param in command.params:
            if (path, param.name) in COMPLETERS:
                param._custom_shell_complete = lazy(COMPLETERS[path, param.name])  # where click keeps shell_complete=


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL, e.g. eval "$(sparkctl completion bash)" in ~/.bashrc."""
    from click.shell_completion import get_completion_class

    script = get_completion_class(shell)(click.get_current_context().find_root().command, {}, PROG, COMPLETE_VAR)
    click.echo(script.source())


def register(cli: click.Group) -> None:
    """Add `sparkctl completion` and the completers; call after every other command is registered."""
    cli.add_command(completion)
    attach(cli)
