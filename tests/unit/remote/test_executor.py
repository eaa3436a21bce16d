"""The executor's ordering, failure messages, agreement checks, Ray gate and readiness, over a fake transport."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from orchestrator.config.inventory import load_inventory
from orchestrator.errors import Cancelled, ConnectionFailed, ExecutionError
from orchestrator.plan.data import Gate, Phase, PhaseKind, Plan, Readiness, Step
from orchestrator.remote.executor import Executor, gate_shortfall
from orchestrator.remote.transport import Result

EXAMPLE = Path(__file__).resolve().parents[3] / "inventory.yaml"
A, B = "GoldFinger", "GoldFinger2"


class FakeTransport:
    """Answers each script with a scripted Result and records what ran (the network is what we fake)."""

    def __init__(self, answer):
        self.answer = answer
        self.calls: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()

    def run(self, node, script, timeout, secrets=None, cancel=None):
        with self.lock:
            self.calls.append((node.name, script, dict(secrets or {})))
        return self.answer(node.name, script)


def ok(node: str, stdout: str = "") -> Result:
    return Result(node, 0, stdout, "", 0.01)


def executor(answer, secrets=None) -> tuple[Executor, FakeTransport, list]:
    events: list = []
    transport = FakeTransport(answer)
    return Executor(transport, load_inventory(EXAMPLE), events.append, secrets), transport, events


def phase(name: str, *steps: Step, kind=PhaseKind.SCRIPT, agree_on=()) -> Phase:
    return Phase(name, name.title(), steps, kind, agree_on)


def test_phases_run_in_order_and_every_node_runs():
    run, transport, _ = executor(lambda node, script: ok(node))
    plan = Plan("x", (phase("one", Step(A, "a", "echo 1", 5), Step(B, "b", "echo 1", 5)),
                      phase("two", Step(A, "a", "echo 2", 5))))
    report = run.run(plan)
    assert [script for _n, script, _s in transport.calls] == ["echo 1", "echo 1", "echo 2"]
    assert list(report.seconds) == ["one", "two"]


def test_a_failure_names_node_phase_command_and_stderr_tail_and_stops_the_run():
    def answer(node, script):
        if node == B:
            return Result(node, 125, "", "docker: no such image\nsparkctl: failed (125): docker run x\n", 0.1)
        return ok(node)

    run, transport, _ = executor(answer)
    plan = Plan("x", (phase("start", Step(A, "a", "s", 5), Step(B, "b", "s", 5)), phase("after", Step(A, "a", "t", 5))))
    with pytest.raises(ExecutionError) as failure:
        run.run(plan)
    message = str(failure.value)
    assert f"phase start failed on {B}: exited 125" in message
    assert "command: docker run x" in message and "docker: no such image" in message
    assert "t" not in [script for _n, script, _s in transport.calls]


def test_nodes_that_disagree_on_the_image_stop_the_run():
    run, _, _ = executor(lambda node, script: ok(node, f"image_layers={'aaa' if node == A else 'bbb'}\n"))
    plan = Plan("x", (phase("preflight", Step(A, "p", "p", 5), Step(B, "p", "p", 5), agree_on=("image_layers",)),))
    with pytest.raises(ExecutionError, match=f"nodes differ in image_layers \\({A}=aaa, {B}=bbb\\)"):
        run.run(plan)


def test_secrets_reach_the_transport_only_for_steps_that_name_them():
    run, transport, _ = executor(lambda node, script: ok(node), secrets={"HF_TOKEN": "hf_secret"})
    run.run(Plan("x", (phase("p", Step(A, "a", "uses", 5, secrets=("HF_TOKEN",)), Step(B, "b", "plain", 5)),)))
    by_script = {script: secrets for _n, script, secrets in transport.calls}
    assert by_script == {"uses": {"HF_TOKEN": "hf_secret"}, "plain": {}}


def test_the_gate_is_one_watcher_run_that_reports_its_last_members():
    lines = 'members=[["10.0.0.1", true, 1]]\nmembers=[["10.0.0.1", true, 1], ["10.0.0.2", true, 1]]\n'
    run, transport, events = executor(lambda node, script: ok(node, lines))
    gate = Gate(("10.0.0.1", "10.0.0.2"), 2, deadline=5)
    run.run(Plan("x", (phase("ray-gate", Step(A, "g", "watch", 5, gate=gate), kind=PhaseKind.GATE),)))
    assert len(transport.calls) == 1
    assert any(getattr(e, "message", "") == "2 Ray nodes joined" for e in events)


def test_a_gate_that_times_out_names_the_missing_members():
    run, _, _ = executor(lambda node, script: Result(node, 1, 'members=[["10.0.0.1", true, 1]]\n', "", 0.1))
    gate = Gate(("10.0.0.1", "10.0.0.2"), 2, deadline=0.1, members="vLLM ranks")
    with pytest.raises(ExecutionError, match="not reached within 0.1s: waiting for vLLM ranks 10.0.0.2"):
        run.run(Plan("x", (phase("rank-gate", Step(A, "g", "watch", 5, gate=gate), kind=PhaseKind.GATE),)))


def test_a_gate_whose_head_died_shows_its_logs():
    run, _, _ = executor(lambda node, script: Result(node, 1, "", "the head's container is exited; its last log "
                                                                   "lines:\n    RuntimeError: rendezvous timed out", 0.1))
    gate = Gate(("10.0.0.1", "10.0.0.2"), 2, deadline=5, members="vLLM ranks")
    with pytest.raises(ExecutionError, match="rendezvous timed out"):
        run.run(Plan("x", (phase("rank-gate", Step(A, "g", "watch", 5, gate=gate), kind=PhaseKind.GATE),)))


def test_gate_shortfall_points_at_a_wrong_network():
    members = [["192.168.3.203", True, 1], ["192.168.3.190", True, 1]]
    assert "wrong network" in gate_shortfall(members, ("10.0.0.1", "10.0.0.2"), 2)
    assert gate_shortfall([["10.0.0.1", True, 1], ["10.0.0.2", True, 0]], ("10.0.0.1", "10.0.0.2"), 2) == (
        "Ray nodes bring 1 GPUs, the recipe needs 2")
    assert gate_shortfall([["10.0.0.1", True, 1], ["10.0.0.2", True, 1]], ("10.0.0.1", "10.0.0.2"), 2) is None


def test_readiness_fails_fast_with_the_container_log_when_it_exits():
    run, _, _ = executor(lambda node, script: ok(node, "state=exited\nlog: torch.OutOfMemoryError: CUDA out of memory\n"))
    ready = Readiness("http://127.0.0.1:9", "m", "sparkctl-vllm", deadline=30, interval=0.01)
    plan = Plan("x", (phase("readiness", Step(A, "r", "probe", 5, readiness=ready), kind=PhaseKind.READINESS),))
    with pytest.raises(ExecutionError) as failure:
        run.run(plan)
    assert f"phase readiness failed on {A}: container sparkctl-vllm is exited" in str(failure.value)
    assert "CUDA out of memory" in str(failure.value)


def test_readiness_watches_the_workers_too():
    run, _, _ = executor(lambda node, script: ok(node, "state=running\n" if node == A else "state=exited\n"))
    ready = Readiness("http://127.0.0.1:9", "m", "sparkctl-vllm", deadline=30, interval=0.01, watch=(B,))
    plan = Plan("x", (phase("readiness", Step(A, "r", "probe", 5, readiness=ready), kind=PhaseKind.READINESS),))
    with pytest.raises(ExecutionError, match=f"phase readiness failed on {B}: container sparkctl-vllm is exited"):
        run.run(plan)


def _slow_unless_cancelled(seconds: float):
    """A node that takes `seconds` unless its run is cancelled first; records whether it was."""
    seen = {"cancelled": False}

    def answer(node, script, cancel):
        if cancel is not None and cancel.wait(seconds):
            seen["cancelled"] = True
            raise Cancelled("cancelled")
        return ok(node)
    return answer, seen


class CancellableTransport(FakeTransport):
    """Hands the executor's cancel event to the answer, as the SSH transport checks it."""

    def run(self, node, script, timeout, secrets=None, cancel=None):
        return self.answer(node.name, script, cancel)


def test_the_first_failure_ends_the_phase_for_every_node_at_once():
    slow, seen = _slow_unless_cancelled(30)

    def answer(node, script, cancel):
        return Result(node, 3, "", "boom", 0.01) if node == A else slow(node, script, cancel)
    run = Executor(CancellableTransport(answer), load_inventory(EXAMPLE), lambda _e: None)
    started = time.monotonic()
    with pytest.raises(ExecutionError, match=f"phase one failed on {A}"):
        run.run(Plan("x", (phase("one", Step(A, "a", "x", 60), Step(B, "b", "x", 60)),)))
    assert time.monotonic() - started < 4
    assert wait_until(lambda: seen["cancelled"], 2), "the slow node was not told to stop"


def test_ctrl_c_stops_waiting_within_a_second_and_cancels_the_nodes():
    slow, seen = _slow_unless_cancelled(30)
    run = Executor(CancellableTransport(slow), load_inventory(EXAMPLE), lambda _e: None)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run.run(Plan("x", (phase("one", Step(A, "a", "x", 60), Step(B, "b", "x", 60)),)))
    assert time.monotonic() - started < 3
    assert wait_until(lambda: seen["cancelled"], 2)


def test_a_tolerant_phase_reports_the_unreachable_node_and_keeps_the_others():
    def answer(node, script, cancel):
        if node == B:
            raise ConnectionFailed(f"{node}: no answer on SSH within 10s")
        return ok(node, "removed=1\n")
    run = Executor(CancellableTransport(answer), load_inventory(EXAMPLE), lambda _e: None)
    report = run.run(Plan("x", (Phase("down", "Down", (Step(A, "a", "x", 5), Step(B, "b", "x", 5)), tolerant=True),)))
    assert report.facts("down") == {A: {"removed": "1"}}
    assert "no answer on SSH" in report.failed("down")[B]


def wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
