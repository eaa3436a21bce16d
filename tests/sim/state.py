"""The cluster's state file: shape and recorded PIDs, so any later command can act on it."""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from tests.sim.layout import ClusterLayout
from tests.sim.shell import SimError

LOCK_FILE = Path("/run/sparkctl-sim/lock")
# Long enough for another command to build the project image on a cold cache.
LOCK_TIMEOUT = 1800.0


@dataclass
class State:
    """What `up` recorded: node count, engines on/off, and each node's `unshare` PID."""

    nodes: int
    docker: bool
    pids: dict[int, int | None] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)
    # "pid:starttime" of the process the cluster lives and dies with (a pytest session), or None.
    owner: str | None = None

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


def process_identity(pid: int) -> str | None:
    """`pid:starttime`, which names one process even after its PID is reused; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else f"{pid}:{fields[19]}"


def owner_gone(state: State) -> bool:
    """Whether the cluster's owning process has exited (its cluster is then an orphan)."""
    return state.owner is not None and process_identity(int(state.owner.split(":")[0])) != state.owner


@contextmanager
def locked(timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Serialise harness commands machine-wide: the bridges and subnets are shared by every cluster."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as handle:
        deadline = time.monotonic() + timeout
        while not _try_lock(handle):
            if time.monotonic() > deadline:
                raise SimError(f"another tests.sim command held {LOCK_FILE} for over {timeout:g}s")
            time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _try_lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
