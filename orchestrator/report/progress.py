"""Live progress on a terminal: one line per running phase counting its nodes, step lines printed above."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time

from orchestrator.report import render
from orchestrator.report.events import Event, JsonReporter, Reporter

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
TICK = 0.1  # seconds between redraws of the spinner and the elapsed time


class LiveReporter(Reporter):
    """Progress for interactive terminals (plain ANSI on stderr): the plain Reporter's lines scroll above one
    status line per running phase (spinner, nodes done, elapsed); a finished phase leaves its last line."""

    def __init__(self, stream=None, width: int | None = None):
        super().__init__(stream)
        self.width = width
        self._phases: dict[str, tuple[str, float, list[str]]] = {}  # phase: message, started, nodes done
        self._drawn = 0
        self._frame = 0
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
        self._ticker.start()

    def __call__(self, event: Event) -> None:
        with self._lock:
            above: list[str] = []
            if event.kind == "phase-start":
                self._phases[event.phase] = (event.message, time.monotonic(), [])
            elif event.kind == "phase-done" and event.phase in self._phases:
                above.append(self._line(event.phase, "done"))
                del self._phases[event.phase]
            else:
                if event.kind == "step-done" and event.phase in self._phases:
                    self._phases[event.phase][2].append(event.node)
                line = self.format(event)
                above += [render.clean(line)] if line else []  # steps carry what nodes say
            self._draw(above)

    def close(self) -> None:
        """Stop redrawing; phases still running keep their last line; the cursor ends on a fresh line."""
        self._stop.set()
        self._ticker.join(timeout=2 * TICK + 1)
        with self._lock:
            self._draw([self._line(phase, "stopped") for phase in self._phases], status=False)
            self._phases.clear()

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            with self._lock:
                self._frame += 1
                if self._phases:
                    self._draw([])

    def _draw(self, above: list[str], status: bool = True) -> None:
        """Clear the status lines, print the lines above them, draw the status lines again (caller holds the lock)."""
        width = self.width or shutil.get_terminal_size((80, 24)).columns
        back = f"\x1b[{self._drawn}A" if self._drawn else ""
        spin = SPINNER[self._frame % len(SPINNER)]
        lines = [render.crop(f"{spin} {self._line(phase, '')}", width - 1) for phase in self._phases] if status else []
        self.stream.write(f"\r{back}\x1b[J" + "".join(f"{line}\n" for line in [*above, *lines]))
        self.stream.flush()
        self._drawn = len(lines)

    def _line(self, phase: str, state: str) -> str:
        """A phase's line: its message, the nodes done so far, the elapsed time and a final word if it ended."""
        message, started, nodes = self._phases[phase]
        done = f"  {len(nodes)} done: {', '.join(nodes)}" if nodes else ""
        elapsed = int(time.monotonic() - started)
        clock = f"{elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
        return render.clean(f"{message}{done}  {clock}" + (f"  {state}" if state else ""))


def reporter_for(as_json: bool) -> Reporter:
    """JSON lines for machines, live status lines on a terminal that moves its cursor, plain lines otherwise."""
    if as_json:
        return JsonReporter()
    return LiveReporter() if sys.stderr.isatty() and os.environ.get("TERM") != "dumb" else Reporter()
