"""The lean install: the core never imports matplotlib; `--plot` without it names the extra to install."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from orchestrator.bench import store
from tests.cli.conftest import EXAMPLE_INVENTORY, REPO

FIXTURE = json.loads((REPO / "tests" / "unit" / "bench" / "bench_fixture.json").read_text())
RUNNER = "import sys; from orchestrator.cli.main import main; main(sys.argv[1:])"


def store_two_runs() -> None:
    """Two stored runs, 'a' and 'b', under $XDG_DATA_HOME."""
    for run_id in ("a", "b"):
        store.save({**copy.deepcopy(FIXTURE), "id": run_id})


def imported_modules(args: list[str], env: dict[str, str]) -> set[str]:
    """Every module one sparkctl invocation imports, read from `-X importtime`."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", RUNNER, *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:"))
    return set(lines)


@pytest.mark.parametrize("args", [
    ["--help"],
    ["--inventory", str(EXAMPLE_INVENTORY), "plan", "solo", "openai-gpt-oss-120b"],
    ["recipes", "list"],
    ["bench", "compare", "a", "b"],
])
def test_the_core_never_imports_matplotlib(args, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    store_two_runs()
    modules = imported_modules(args, dict(os.environ))
    assert "orchestrator.cli.main" in modules
    assert not {m for m in modules if m.split(".")[0] == "matplotlib"}


def test_plot_without_matplotlib_names_the_extra(sparkctl, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    store_two_runs()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` meets when it is not installed
    outcome = sparkctl("bench", "compare", "a", "b", "--plot", str(tmp_path / "cmp.png"))
    assert outcome.code == 2
    assert "pip install 'sparkctl[plot]'" in outcome.err and "Traceback" not in outcome.err
    assert "pipx inject sparkctl matplotlib" in outcome.err
    assert not (tmp_path / "cmp.png").exists()
