"""Events the executor emits; reporters turn them into progress lines or JSON lines."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Event:
    """Something that happened during a run."""

    kind: str
    phase: str = ""
    node: str = ""
    message: str = ""
    seconds: float | None = None
    data: dict = field(default_factory=dict)


class Reporter:
    """Human-readable progress on stderr, one line per event (works on terminals and in logs)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()
        self.started = time.monotonic()

    def __call__(self, event: Event) -> None:
        line = self.format(event)
        if line:
            with self._lock:
                print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to release for plain lines."""

    def format(self, event: Event) -> str:
        """The line for one event (empty to stay quiet)."""
        took = f" ({event.seconds:.1f}s)" if event.seconds is not None else ""
        node = f" {event.node}:" if event.node else ""
        if event.kind == "phase-start":
            return f"==> {event.message}"
        if event.kind == "phase-done":
            return f"    {event.message} done{took}"
        return f"  [{event.phase}]{node} {event.message}{took}"


class JsonReporter(Reporter):
    """JSON lines on stderr, for machines (`--json`)."""

    def format(self, event: Event) -> str:
        return json.dumps({"t": round(time.monotonic() - self.started, 3), **asdict(event)})


class NoticesOnly(Reporter):
    """Only notices (a host key recorded, ...): for commands that redraw a view of their own, such as `top`."""

    def format(self, event: Event) -> str:
        return super().format(event) if event.kind == "notice" else ""
