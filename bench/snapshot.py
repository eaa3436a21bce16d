"""The sparkctl under test: a snapshot of a git revision, run with its bytecode cached like an installed copy."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKTREE = "worktree"
SOURCES = ("orchestrator", "templates", "recipes")


def export(ref: str, dest: Path) -> str:
    """Extract sparkctl's sources at `ref` into dest (left empty for WORKTREE); return what runs."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if ref == WORKTREE:
        return "the working tree (uncommitted edits included)"
    commit = git("rev-parse", "--short", ref)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, *SOURCES], capture_output=True,
                             check=True, timeout=60).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, timeout=60)
    return f"commit {commit} ({git('log', '-1', '--format=%s', commit)[:70]})"


def git(*args: str) -> str:
    """One line of git output."""
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()


def environment(snapshot: Path, pycache: Path) -> dict[str, str]:
    """os.environ with the snapshot first on sys.path and bytecode cached under pycache.

    This machine sets PYTHONDONTWRITEBYTECODE, which would make every run recompile sparkctl from source;
    an installed sparkctl has its .pyc files. The cache lives under pycache, so nothing in the repo changes.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if any(snapshot.iterdir()):
        env["PYTHONPATH"] = str(snapshot)
    return env
