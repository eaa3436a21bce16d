"""`--json` works after the command as well as before it, on every command."""

from __future__ import annotations

import json

import pytest

from orchestrator.cli.main import cli

COMMANDS = [
    ("recipes", "list"),
    ("recipes", "diff", "openai-gpt-oss-120b", "openai-gpt-oss-120b-cluster"),
    ("recipes", "show", "openai-gpt-oss-120b"),
    ("plan", "cluster", "openai-gpt-oss-120b-cluster"),
    ("up", "solo", "openai-gpt-oss-120b", "--dry-run"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_json_after_the_command_equals_json_before_it(sparkctl, command):
    before = sparkctl("--json", *command)
    after = sparkctl(*command, "--json")
    assert before.code == after.code == 0, after.err
    assert json.loads(after.out) == json.loads(before.out)


def test_every_command_accepts_json():
    def walk(group, path):
        for name, command in group.commands.items():
            yield (*path, name), command
            if hasattr(command, "commands"):
                yield from walk(command, (*path, name))

    lacking = [" ".join(path) for path, command in walk(cli, ()) if "--json" not in
               [opt for param in command.params for opt in getattr(param, "opts", [])]]
    assert lacking == []
