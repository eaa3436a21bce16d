"""The cluster's state file: shape and recorded PIDs, so any later command can act on it."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.sim.layout import ClusterLayout


@dataclass
class State:
    """What `up` recorded: node count, engines on/off, and each node's `unshare` PID."""

    nodes: int
    docker: bool
    pids: dict[int, int | None] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)

    def save(self, layout: ClusterLayout) -> None:
        """Write the state atomically."""
        tmp = layout.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(layout.state)

    @classmethod
    def load(cls, layout: ClusterLayout) -> State | None:
        """Read the state file, or None when there is none (or it is unreadable)."""
        try:
            raw = json.loads(layout.state.read_text())
            raw["pids"] = {int(k): v for k, v in raw.get("pids", {}).items()}
            return cls(**raw)
        except (OSError, ValueError, TypeError):
            return None


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """Serialise commands acting on one cluster directory."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
