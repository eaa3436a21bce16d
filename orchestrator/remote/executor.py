"""Runs a Plan: phases in order, nodes in parallel within a phase, each node's steps in order."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from orchestrator.config.inventory import Inventory
from orchestrator.errors import ConnectionFailed, ExecutionError, SparkctlError
from orchestrator.plan.data import Phase, PhaseKind, Plan, Step
from orchestrator.remote import health, transfer
from orchestrator.remote.transport import Result, Transport
from orchestrator.report.events import Event

STDERR_TAIL = 12


@dataclass
class Report:
    """What a run did: results per phase and how long each phase took."""

    results: dict[str, list[Result]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def facts(self, phase: str) -> dict[str, dict[str, str]]:
        """Per node, the key=value facts a phase printed."""
        return {r.node: r.facts() for r in self.results.get(phase, [])}


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

    def run(self, plan: Plan, report: Report | None = None) -> Report:
        """Run every phase; raise ExecutionError at the first failed phase."""
        report = report if report is not None else Report()
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
        if len(phase.steps) == 1:
            return [runner(phase, phase.steps[0])]
        with ThreadPoolExecutor(max_workers=min(32, len(phase.steps))) as pool:
            futures = [pool.submit(runner, phase, step) for step in phase.steps]
            outcomes = [_outcome(f) for f in futures]
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            raise _combine(errors)
        return outcomes

    def _script(self, phase: Phase, step: Step) -> Result:
        node = self.inventory.node(step.node)
        result = self.transport.run(node, step.script, step.timeout, self._secrets_for(step))
        if not result.ok:
            raise ExecutionError(failure_message(phase.name, step, result))
        self.emit(Event("step-done", phase.name, step.node, step.description, result.seconds, result.facts()))
        return result

    def _secrets_for(self, step: Step) -> dict[str, str]:
        return {name: self.secrets[name] for name in step.secrets if name in self.secrets}

    def _gate(self, phase: Phase, step: Step) -> Result:
        gate, node = step.gate, self.inventory.node(step.node)
        started = time.monotonic()
        seen = "no answer yet"
        while time.monotonic() - started < gate.deadline:
            result = self.transport.run(node, step.script, step.timeout)
            members = _ray_members(result)
            if members is not None:
                missing = gate_shortfall(members, gate.expected_ips, gate.min_gpus)
                if missing is None:
                    self.emit(Event("step-done", phase.name, step.node, f"Ray sees {len(members)} nodes",
                                    time.monotonic() - started, {"members": json.dumps(members)}))
                    return result
                seen = missing
            else:
                seen = (result.stderr.strip().splitlines() or ["Ray not answering yet"])[-1]
            time.sleep(gate.interval)
        raise ExecutionError(f"phase {phase.name} failed on {step.node}: Ray membership not reached within "
                             f"{gate.deadline:g}s: {seen}")

    def _ready(self, phase: Phase, step: Step) -> Result:
        nodes = [self.inventory.node(name) for name in (step.node, *step.readiness.watch)]
        progress = lambda message: self.emit(Event("progress", phase.name, step.node, message))  # noqa: E731
        seconds = health.wait_until_ready(self.transport, nodes, step, phase.name, progress)
        self.emit(Event("step-done", phase.name, step.node, f"ready at {step.readiness.base_url}/v1", seconds))
        return Result(step.node, 0, "ready=yes\n", "", seconds)

    def _check_agreement(self, phase: Phase, results: list[Result]) -> None:
        for key in phase.agree_on:
            values = {r.node: r.facts().get(key) for r in results}
            if len(set(values.values())) > 1:
                listed = ", ".join(f"{node}={value}" for node, value in values.items())
                raise ExecutionError(f"phase {phase.name} failed: nodes differ in {key} ({listed}); every node "
                                     "must run the identical image (compare by layer digests, then re-ship it)")


def _ray_members(result: Result) -> list | None:
    for line in result.stdout.splitlines():
        if line.startswith("ray_nodes="):
            return json.loads(line.removeprefix("ray_nodes="))
    return None


def gate_shortfall(members: list, expected_ips: tuple[str, ...], min_gpus: int) -> str | None:
    """None when every expected IP is alive and GPUs suffice, else what is missing."""
    alive = {ip for ip, is_alive, _gpus in members if is_alive}
    gpus = sum(g for _ip, is_alive, g in members if is_alive)
    missing = [ip for ip in expected_ips if ip not in alive]
    strangers = sorted(alive - set(expected_ips))
    if missing:
        extra = f"; Ray sees {', '.join(strangers)} instead (wrong network?)" if strangers else ""
        return f"waiting for Ray nodes {', '.join(missing)} (alive: {', '.join(sorted(alive)) or 'none'}){extra}"
    if gpus < min_gpus:
        return f"Ray has {gpus:g} GPUs, needs {min_gpus}"
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


def _outcome(future):
    try:
        return future.result()
    except BaseException as exc:  # noqa: BLE001 - collected and re-raised together
        return exc


def _combine(errors: list[BaseException]) -> BaseException:
    if len(errors) == 1 or not all(isinstance(e, SparkctlError) for e in errors):
        return errors[0]
    first = errors[0]
    return type(first)("\n".join(str(e) for e in errors))
