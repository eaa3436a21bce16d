"""CLI test fixtures: run `sparkctl` in-process through its error boundary, isolated and offline."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from tests.isolation import isolated, write  # noqa: F401 - fixtures shared with the other suite

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_INVENTORY = REPO / "inventory.yaml"


@dataclass(frozen=True)
class Outcome:
    """What one sparkctl invocation did."""

    code: int
    out: str
    err: str


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Any attempt to open a connection fails the test (mocks the network, not sparkctl)."""
    attempts: list[object] = []

    def refuse(_self, address, *_args):
        attempts.append(address)
        raise AssertionError(f"a dry run tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))
    return attempts


@pytest.fixture
def sparkctl(capsys: pytest.CaptureFixture[str], no_network) -> Callable[..., Outcome]:
    """sparkctl(*args) -> Outcome; the example inventory unless -i/--inventory is given."""

    def run(*args: str, inventory: Path | None = EXAMPLE_INVENTORY) -> Outcome:
        argv = (["--inventory", str(inventory)] if inventory else []) + list(args)
        capsys.readouterr()
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
