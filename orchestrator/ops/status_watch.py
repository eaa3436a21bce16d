"""`status --watch`: the status table again every few seconds, a bounded number of times; Ctrl-C ends it cleanly."""

from __future__ import annotations

import threading
import time

from orchestrator.config.settings import Settings
from orchestrator.errors import Interrupted, PartialFailure
from orchestrator.ops.status import status
from orchestrator.report import console


def watch(settings: Settings, interval: float, count: int, stop: threading.Event | None = None) -> int:
    """Show status `count` times, `interval` seconds apart; returns how many were shown."""
    stop = stop or threading.Event()
    shown = 0
    try:
        while shown < count and not stop.is_set():
            if not settings.json:
                console.info(f"--- {time.strftime('%H:%M:%S')} (every {interval:g}s, Ctrl-C stops)")
            try:
                status(settings)
            except PartialFailure as exc:
                console.warn(str(exc))
            shown += 1
            if shown < count:
                stop.wait(interval)
    except (KeyboardInterrupt, Interrupted):
        pass
    return shown
