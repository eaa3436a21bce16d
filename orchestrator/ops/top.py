"""`top`: the cluster live, refreshed every second: memory, containers and each vLLM's load, read over SSH."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from orchestrator.config.inventory import Node
from orchestrator.config.settings import Settings
from orchestrator.ops.partial import raise_if_partial
from orchestrator.ops.top_sample import NodeSample, node_row, parse_sample, server_rows
from orchestrator.plan.top import plan_top
from orchestrator.remote.executor import FAILED
from orchestrator.remote.session import Session, session
from orchestrator.report import console
from orchestrator.report.live import Frame, show_live
from orchestrator.report.units import human_bytes

NODE_HEADERS = ["node", "MemAvailable", "page cache", "container", "state", "uptime", "restarts"]
RETRY_AFTER = 30.0
SERVER_HEADERS = ["deployment", "node", "model", "running", "waiting", "KV cache", "prompt tok/s", "gen tok/s"]


def top(settings: Settings, once: bool = False, interval: float = 1.0, seconds: float | None = None) -> None:
    """Show the live view until Ctrl-C (or for seconds; JSON lines with --json); once: sample twice and print."""
    inventory = settings.load_inventory()
    with Sampler(lambda: session(settings, inventory, quiet=True), inventory.nodes, settings.templates_dir) as sampler:
        views = sampled_views(sampler, interval)
        if once:
            next(views)
            view = next(views)
            if settings.json:
                console.emit_json(view)
            else:
                _print_tables(tables(view))
            raise_if_partial("top", view["unreachable"], "their rows are missing until they answer")
            return
        deadline = None if seconds is None else time.monotonic() + seconds
        try:
            if settings.json:
                for view in _until(views, deadline):
                    console.info(json.dumps(view, default=str))
            else:
                show_live(tables(v) for v in _until(views, deadline))
        except KeyboardInterrupt:
            console.warn("top: stopped")


class Sampler:
    """Samples every node each refresh over one session; nodes that did not answer are left out of the refreshes
    (a dead host would hold each one up for the SSH connect timeout) and retried on a fresh session every
    RETRY_AFTER seconds, so a node that reboots comes back into view."""

    def __init__(self, open_session: Callable[[], contextlib.AbstractContextManager[Session]],
                 nodes: tuple[Node, ...], templates_dir: str | None = None):
        self.open_session, self.nodes, self.templates_dir = open_session, nodes, templates_dir
        self.stack = contextlib.ExitStack()
        self.current: Session | None = None
        self.missing: dict[str, str] = {}
        self.retried = 0.0
        self.previous: dict[str, NodeSample] = {}

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *_exc) -> None:
        self.stack.close()

    def view(self) -> dict:
        """One sample of every node that answers, as the view `top` shows."""
        current = self._session()
        asked = tuple(n for n in self.nodes if n.name not in self.missing)
        samples = []
        if asked:
            report = current.run(plan_top(asked, self.templates_dir))
            self.missing.update(report.failed("top"))
            samples = [parse_sample(r) for r in report.results["top"] if r.exit_code != FAILED]
        view = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "nodes": [node_row(s) for s in samples],
                "servers": [row for s in samples for row in server_rows(s, self.previous.get(s.node))],
                "unreachable": dict(self.missing)}
        self.previous = {s.node: s for s in samples}
        return view

    def _session(self) -> Session:
        """The session to sample over: a fresh one at first, and when it is time to retry the missing nodes."""
        now = time.monotonic()
        if self.current is None or (self.missing and now - self.retried >= RETRY_AFTER):
            self.stack.close()
            self.stack = contextlib.ExitStack()
            self.current = self.stack.enter_context(self.open_session())
            self.missing, self.retried = {}, now
        return self.current


def sampled_views(sampler: Sampler, interval: float) -> Iterator[dict]:
    """One view per refresh, a refresh every interval seconds; rates come from the refresh before."""
    while True:
        started = time.monotonic()
        yield sampler.view()
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


def _until(views: Iterator[dict], deadline: float | None) -> Iterator[dict]:
    """The views until the deadline passes (for ever without one: Ctrl-C ends it)."""
    for view in views:
        yield view
        if deadline is not None and time.monotonic() >= deadline:
            return


def tables(view: dict) -> Frame:
    """The view as two tables: nodes with their containers, then each serving vLLM's load."""
    node_rows = []
    for node in view["nodes"]:
        memory = [_bytes(node["mem_available_bytes"]), _bytes(node["page_cache_bytes"])]
        containers = node["containers"] or [{"name": "-", "state": "", "uptime_s": None, "restarts": None}]
        for index, c in enumerate(containers):
            shown = [node["node"], *memory] if index == 0 else ["", "", ""]
            node_rows.append([*shown, c["name"], c["state"], _duration(c["uptime_s"]), _text(c["restarts"])])
    node_rows += [[name, "unreachable", "", "", "", "", ""] for name in view["unreachable"]]
    servers = [[s["deployment"], s["node"], s["model"], _text(s["running"]), _text(s["waiting"]),
                _percent(s["kv_cache_usage"]), _text(s["prompt_tokens_per_s"]), _text(s["generation_tokens_per_s"])]
               if "error" not in s else [s["deployment"], s["node"], s["model"], f"no metrics: {s['error']}", "", "", "", ""]
               for s in view["servers"]]
    title = f"sparkctl top  {view['time']}  (Ctrl-C quits)"
    return [(title, NODE_HEADERS, node_rows), ("vLLM", SERVER_HEADERS, servers or [["(nothing serving)", *[""] * 7]])]


def _print_tables(frame: Frame) -> None:
    for title, headers, rows in frame:
        console.table(title, headers, rows)


def _bytes(value: int | None) -> str:
    return human_bytes(value) if value is not None else "?"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _percent(fraction: float | None) -> str:
    return f"{fraction * 100:.1f}%" if fraction is not None else "-"


def _text(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)
