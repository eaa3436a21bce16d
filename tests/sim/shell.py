"""Running host commands with bounded waits and clear failures."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence


class SimError(Exception):
    """An expected failure of the simulated cluster, shown to the user as one message."""


def run(argv: Sequence[str], timeout: float = 30, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; raise SimError on failure when `check`."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as exc:
        raise SimError(f"timed out after {timeout:g}s: {' '.join(argv)}") from exc
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        raise SimError(f"command failed ({done.returncode}): {' '.join(argv)}: {detail}")
    return done


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `condition` until true, or raise SimError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SimError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
