"""Runs a Plan: phases in order, nodes in parallel within a phase, each node's steps in order."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.config.inventory import Inventory
from orchestrator.errors import Cancelled, ConnectionFailed, ExecutionError, SparkctlError
from orchestrator.plan.data import Phase, PhaseKind, Plan, Step
from orchestrator.remote import readiness, transfer
from orchestrator.remote.transport import Result, Transport
from orchestrator.report.events import Event

STDERR_TAIL = 12
FAILED = -1
POLL = 0.1
# After a node fails, how long the others may still report their own failure into the same message.
FAILURE_GRACE = 0.5


@dataclass
class Report:
    """What a run did: results per phase and how long each phase took."""

    results: dict[str, list[Result]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def facts(self, phase: str) -> dict[str, dict[str, str]]:
        """Per node, the key=value facts a phase printed (nodes a tolerant phase could not run on left out)."""
        return {r.node: r.facts() for r in self.results.get(phase, []) if r.exit_code != FAILED}

    def failed(self, phase: str) -> dict[str, str]:
        """Per node, why a tolerant phase could not run there."""
        return {r.node: r.stderr for r in self.results.get(phase, []) if r.exit_code == FAILED}


def failure_message(phase: str, step: Step, result: Result) -> str:
    """Names the node, the phase, the command and the last lines of its stderr."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    failed = next((line for line in reversed(lines) if line.startswith("sparkctl: failed")), None)
    lines = [line for line in lines if not line.startswith("sparkctl: failed")]
    tail = "\n".join(f"    {line}" for line in lines[-STDERR_TAIL:]) or "    (no stderr)"
    what = f"timed out after {step.timeout:g}s" if result.timed_out else f"exited {result.exit_code}"
    command = failed.split(": ", 2)[-1] if failed else step.description
    return f"phase {phase} failed on {step.node}: {what}\n  command: {command}\n  stderr:\n{tail}"


class Executor:
    """The only place with concurrency; emits events, never prints."""

    def __init__(self, transport: Transport, inventory: Inventory, emit: Callable[[Event], None],
                 secrets: dict[str, str] | None = None):
        self.transport, self.inventory, self.emit = transport, inventory, emit
        self.secrets = secrets or {}
        self.cancel = threading.Event()

    def run(self, plan: Plan, report: Report | None = None) -> Report:
        """Run every phase; raise ExecutionError at the first failed phase."""
        report = report if report is not None else Report()
        # Fresh per run: a rollback after a cancelled run must not start cancelled.
        self.cancel = threading.Event()
        for phase in plan.phases:
            self.run_phase(phase, report)
        return report

    def run_phase(self, phase: Phase, report: Report) -> list[Result]:
        """One phase across its nodes, with a barrier at the end."""
        self.emit(Event("phase-start", phase.name, message=phase.title))
        started = time.monotonic()
        runner = _naming_phase({PhaseKind.SCRIPT: self._script, PhaseKind.GATE: self._gate,
                                PhaseKind.READINESS: self._ready,
                                PhaseKind.TRANSFER: lambda ph, st: transfer.run_step(self, ph, st)}[phase.kind])
        results = self._parallel(phase, runner)
        report.results[phase.name] = results
        self._check_agreement(phase, results)
        report.seconds[phase.name] = time.monotonic() - started
        self.emit(Event("phase-done", phase.name, message=phase.title, seconds=report.seconds[phase.name]))
        return results

    def _parallel(self, phase: Phase, runner) -> list[Result]:
        """Every step on its own daemon thread; the first failure ends the phase for all (unless tolerant).

        Daemon threads and a polling wait keep Ctrl-C and a failed node answered within a fraction of a second:
        nothing waits for a node that is slow to notice it was cancelled.
        """
        outcomes: queue.Queue = queue.Queue()
        for index, step in enumerate(phase.steps):
            threading.Thread(target=_deliver, args=(runner, phase, step, index, outcomes), daemon=True,
                             name=f"sparkctl {phase.name} {step.node}").start()
        try:
            collected = self._collect(phase, outcomes)
        except BaseException:
            self.cancel.set()
            raise
        if phase.tolerant:
            return [_as_failed_result(collected[i], step) for i, step in enumerate(phase.steps)]
        return [collected[i] for i in range(len(phase.steps))]

    def _collect(self, phase: Phase, outcomes: queue.Queue) -> dict[int, object]:
        """Every step's outcome; after the first real failure, the others get FAILURE_GRACE to report theirs.

        A Cancelled step only says it stopped because of another: it neither starts the grace nor hides the cause.
        """
        collected: dict[int, object] = {}
        failed_at = None
        while len(collected) < len(phase.steps):
            if failed_at is not None and time.monotonic() - failed_at > FAILURE_GRACE:
                break
            try:
                index, outcome = outcomes.get(timeout=POLL)
            except queue.Empty:
                continue
            collected[index] = outcome
            if _is_failure(outcome) and not phase.tolerant and failed_at is None:
                failed_at = time.monotonic()
        failures = [o for o in collected.values() if isinstance(o, BaseException)]
        if failures and not phase.tolerant:
            self.cancel.set()
            raise _combine([e for e in failures if _is_failure(e)] or failures[:1])
        return collected

    def _script(self, phase: Phase, step: Step) -> Result:
        node = self.inventory.node(step.node)
        result = self.transport.run(node, step.script, step.timeout, self._secrets_for(step), cancel=self.cancel)
        if not result.ok:
            raise ExecutionError(failure_message(phase.name, step, result))
        self.emit(Event("step-done", phase.name, step.node, step.description, result.seconds, result.facts()))
        return result

    def _secrets_for(self, step: Step) -> dict[str, str]:
        return {name: self.secrets[name] for name in step.secrets if name in self.secrets}

    def _gate(self, phase: Phase, step: Step) -> Result:
        """One watcher run on the head: it returns once every member is in, or fails at the deadline."""
        gate, node = step.gate, self.inventory.node(step.node)
        result = self.transport.run(node, step.script, step.timeout, self._secrets_for(step), cancel=self.cancel)
        members = _members(result)
        missing = gate_shortfall(members, gate.expected_ips, gate.min_gpus, gate.members) if members is not None else None
        if result.ok and missing is None:
            self.emit(Event("step-done", phase.name, step.node, f"{len(members or [])} {gate.members} joined",
                            result.seconds, {"members": json.dumps(members)}))
            return result
        seen = missing or (result.stderr.strip().splitlines() or [f"no {gate.members} answered"])[-1]
        if result.timed_out or (result.exit_code == 1 and missing):
            seen = f"not reached within {gate.deadline:g}s: {seen}"
        raise ExecutionError(f"phase {phase.name} failed on {step.node}: {gate.members}: {seen}\n"
                             + "\n".join(f"    {line}" for line in result.stderr.strip().splitlines()[-STDERR_TAIL:]))

    def _ready(self, phase: Phase, step: Step) -> Result:
        nodes = [self.inventory.node(name) for name in (step.node, *step.readiness.watch)]
        progress = lambda message: self.emit(Event("progress", phase.name, step.node, message))  # noqa: E731
        seconds = readiness.wait_until_ready(self.transport, nodes, step, phase.name, progress, self._secrets_for(step),
                                             self.cancel)
        self.emit(Event("step-done", phase.name, step.node, f"answering at {step.readiness.local_url}/v1", seconds))
        return Result(step.node, 0, "ready=yes\n", "", seconds)

    def _check_agreement(self, phase: Phase, results: list[Result]) -> None:
        for key in phase.agree_on:
            values = {r.node: r.facts().get(key) for r in results}
            if len(set(values.values())) > 1:
                listed = ", ".join(f"{node}={value}" for node, value in values.items())
                raise ExecutionError(f"phase {phase.name} failed: nodes differ in {key} ({listed}); every node "
                                     "must run the identical image (compare by layer digests, then re-ship it)")


def _members(result: Result) -> list | None:
    """The last `members=` line a gate watcher printed."""
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("members="):
            try:
                return json.loads(line.removeprefix("members="))
            except ValueError:
                return None
    return None


def gate_shortfall(members: list, expected_ips: tuple[str, ...], min_gpus: int, what: str = "Ray nodes") -> str | None:
    """None when every expected IP is alive and GPUs suffice, else what is missing."""
    alive = {ip for ip, is_alive, _gpus in members if is_alive}
    gpus = sum(g for _ip, is_alive, g in members if is_alive)
    missing = [ip for ip in expected_ips if ip not in alive]
    strangers = sorted(alive - set(expected_ips) - {"127.0.0.1", "::1"})
    if missing:
        extra = f"; {', '.join(strangers)} joined instead (wrong network?)" if strangers else ""
        return f"waiting for {what} {', '.join(missing)} (joined: {', '.join(sorted(alive)) or 'none'}){extra}"
    if gpus < min_gpus:
        return f"{what} bring {gpus:g} GPUs, the recipe needs {min_gpus}"
    return None


def _naming_phase(runner):
    """Wrap a step runner so connection failures also name the phase."""
    def run(phase: Phase, step: Step) -> Result:
        try:
            return runner(phase, step)
        except ConnectionFailed as exc:
            if str(exc).startswith("phase "):
                raise
            raise ConnectionFailed(f"phase {phase.name} failed on {step.node}: {exc}") from None
    return run


def _as_failed_result(outcome, step: Step) -> Result:
    """In a tolerant phase a node's failure is a result with exit code -1 and the reason as stderr."""
    if isinstance(outcome, SparkctlError):
        return Result(step.node, FAILED, "", str(outcome), 0.0)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _is_failure(outcome: object) -> bool:
    """An exception that is a cause, not a step stopping because another failed."""
    return isinstance(outcome, BaseException) and not isinstance(outcome, Cancelled)


def _deliver(runner, phase: Phase, step: Step, index: int, outcomes: queue.Queue) -> None:
    """Run one step on a worker thread and hand its result, or its exception, to the collector."""
    try:
        outcomes.put((index, runner(phase, step)))
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
        outcomes.put((index, exc))


def _combine(errors: list[BaseException]) -> BaseException:
    if len(errors) == 1 or not all(isinstance(e, SparkctlError) for e in errors):
        return errors[0]
    first = errors[0]
    return type(first)("\n".join(str(e) for e in errors))
