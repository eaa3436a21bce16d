"""Live progress on a terminal: one bar per phase counting its nodes, step lines printed above."""

from __future__ import annotations

import sys
import threading

from orchestrator.report.events import Event, JsonReporter, Reporter


class LiveReporter(Reporter):
    """rich progress for interactive terminals; the plain Reporter's lines stay above the bars."""

    def __init__(self, console=None):
        super().__init__()
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = console or Console(stderr=True)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.fields[nodes]}"),
                                 TimeElapsedColumn(), console=self.console, transient=False)
        self._tasks: dict[str, int] = {}
        self._done: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self.progress.start()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if event.kind == "phase-start":
                self._done[event.phase] = []
                self._tasks[event.phase] = self.progress.add_task(event.message, total=None, nodes="")
            elif event.kind == "phase-done":
                self.progress.update(self._tasks[event.phase], total=1, completed=1, nodes="done")
            elif event.kind == "step-done" and event.phase in self._tasks:
                self._done[event.phase].append(event.node)
                self.progress.update(self._tasks[event.phase], nodes=", ".join(self._done[event.phase]))
            if event.kind not in ("phase-start", "phase-done"):
                self.progress.console.print(self.format(event), markup=False, highlight=False)

    def close(self) -> None:
        """Stop redrawing."""
        self.progress.stop()


def reporter_for(as_json: bool) -> Reporter:
    """JSON lines for machines, live bars on a terminal, plain lines otherwise."""
    if as_json:
        return JsonReporter()
    return LiveReporter() if sys.stderr.isatty() else Reporter()
