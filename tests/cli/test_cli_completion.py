"""Shell completion driven the way bash, zsh and fish drive it: environment variables, then sparkctl."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from orchestrator.bench import store
from orchestrator.cli import completers
from orchestrator.cli.completion import COMPLETERS, walk
from orchestrator.cli.main import cli
from tests.cli.conftest import EXAMPLE_INVENTORY, REPO

FIXTURE = json.loads((REPO / "tests" / "unit" / "bench" / "bench_fixture.json").read_text())


def complete(sparkctl, monkeypatch, shell: str, line: str) -> list[str]:
    """What sparkctl offers for the last word of `line` (empty after a trailing space), as the shell asks."""
    words = line.split() + ([""] if line.endswith(" ") else [])
    monkeypatch.setenv("_SPARKCTL_COMPLETE", f"{shell}_complete")
    monkeypatch.setenv("COMP_WORDS", " ".join(words))
    monkeypatch.setenv("COMP_CWORD", str(len(words) - 1))
    outcome = sparkctl(inventory=None)
    assert outcome.code == 0, outcome.err
    if shell == "bash":
        return [line.partition(",")[2] for line in outcome.out.splitlines() if line.startswith("plain,")]
    triples = outcome.out.splitlines()
    return [triples[i + 1] for i in range(0, len(triples) - 2, 3) if triples[i] == "plain"]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_up_solo_tab_lists_recipe_names(sparkctl, monkeypatch, write, shell):
    write("work/recipes/my-own.yaml", "model: org/model\ncontainer: img\n")
    offered = complete(sparkctl, monkeypatch, shell, "sparkctl up solo ")
    assert {"openai-gpt-oss-120b", "openai-gpt-oss-120b-cluster", "my-own"} <= set(offered)
    assert complete(sparkctl, monkeypatch, shell, "sparkctl up solo openai-gpt-oss-120b-c") == [
        "openai-gpt-oss-120b-claude", "openai-gpt-oss-120b-cluster"]


def test_recipes_dir_given_first_is_searched(sparkctl, monkeypatch, write, tmp_path):
    write("elsewhere/zz-special.yaml", "model: org/model\ncontainer: img\n")
    line = f"sparkctl --recipes-dir {tmp_path / 'elsewhere'} recipes show zz"
    assert complete(sparkctl, monkeypatch, "bash", line) == ["zz-special"]


def test_node_names_come_from_the_inventory(sparkctl, monkeypatch):
    base = f"sparkctl --inventory {EXAMPLE_INVENTORY}"
    assert complete(sparkctl, monkeypatch, "bash", f"{base} drop-caches --nodes Gold") == ["GoldFinger", "GoldFinger2"]
    assert complete(sparkctl, monkeypatch, "bash", f"{base} down --nodes GoldFinger,") == ["GoldFinger,GoldFinger2"]
    assert complete(sparkctl, monkeypatch, "zsh", f"{base} logs --node GoldFinger2") == ["GoldFinger2"]


def test_no_inventory_offers_no_nodes(sparkctl, monkeypatch):
    assert complete(sparkctl, monkeypatch, "bash", "sparkctl drop-caches --nodes ") == []


def test_bench_run_ids_newest_first(sparkctl, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for run_id in ("20261126-1-solo", "20261127-2-cluster"):
        store.save({**copy.deepcopy(FIXTURE), "id": run_id})
    assert complete(sparkctl, monkeypatch, "bash", "sparkctl bench show ") == ["20261127-2-cluster", "20261126-1-solo"]
    assert complete(sparkctl, monkeypatch, "bash", "sparkctl bench compare 20261126-1-solo 2026112") == [
        "20261127-2-cluster", "20261126-1-solo"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script(sparkctl, shell):
    outcome = sparkctl("completion", shell, inventory=None)
    assert outcome.code == 0 and f"_SPARKCTL_COMPLETE={shell}_complete" in outcome.out


def test_every_completer_names_a_real_parameter_and_function():
    params = {(path, p.name) for path, command in walk(cli) for p in command.params}
    assert set(COMPLETERS) <= params
    assert all(callable(getattr(completers, name, None)) for name in COMPLETERS.values())


def test_completion_loads_nothing_that_could_reach_a_node():
    words = f"sparkctl --inventory {EXAMPLE_INVENTORY} drop-caches --nodes "
    env = {"_SPARKCTL_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": "5", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "from orchestrator.cli.main import main; main()"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert done.returncode == 0 and "plain,GoldFinger" in done.stdout
    modules = {line.rpartition("|")[2].strip().split(".")[0] for line in done.stderr.splitlines()}
    assert not modules & {"fabric", "paramiko", "pydantic", "jinja2"}
