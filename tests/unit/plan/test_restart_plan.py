"""Surviving crashes and reboots, in the plan: the restart-policy phase, and the Ray containers' entry scripts run for
real (their Python helper against a local TCP port, the shell parts with recorders in place of ray and vllm)."""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.config.recipe import with_overrides
from orchestrator.plan import entry, planner
from orchestrator.plan.topology import Topology, assign

CASES = [("openai-gpt-oss-120b", Topology.SOLO, None), ("openai-gpt-oss-120b", Topology.REPLICAS, None),
         ("openai-gpt-oss-120b-cluster", Topology.CLUSTER, "ray"),
         ("qwen3-30b-a3b-instruct-fp8", Topology.CLUSTER, "mp")]


def _plan(inventory, builtin_book, name: str, topology: Topology, backend: str | None = None):
    recipe = builtin_book.resolve(name, topology.value)
    if topology is Topology.CLUSTER and backend == "mp":
        recipe = with_overrides(recipe, {"tensor-parallel-size": 2}, {})
    layout = assign(topology, recipe, inventory, None)
    return planner.plan_up(inventory, recipe, layout, planner.UpOptions(backend=backend))


@pytest.mark.parametrize(("name", "topology", "backend"), CASES, ids=["solo", "replicas", "ray", "mp"])
def test_every_deployment_gets_the_restart_policy_last_on_each_of_its_nodes(inventory, builtin_book, name, topology,
                                                                             backend):
    plan = _plan(inventory, builtin_book, name, topology, backend)
    last = plan.phases[-1]
    assert last.name == "restart-policy"
    assert [s.node for s in last.steps] == list(plan.deployment.nodes)
    for step in last.steps:
        assert f"--filter label=sparkctl.deployment={plan.deployment.id}" in step.script
        assert "docker update --restart unless-stopped $ids" in step.script
    starts = [s.script for p in plan.phases for s in p.steps if "docker run -d" in s.script]
    assert starts and not any("--restart" in s for s in starts), "up fails fast while loading: no policy before then"


STUB = """#!/bin/sh
printf '%s\\n' "$*" >> {log}
case "$1 $2" in
  "ps -aq") echo c1; echo c2;;
  "inspect --format") printf '/a unless-stopped\\n/b {policy}\\n';;
esac
"""


def _run_policy_step(script: str, tmp_path: Path, policy: str) -> tuple[subprocess.CompletedProcess, str]:
    bin_dir, log = tmp_path / "bin", tmp_path / "docker.log"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(STUB.format(log=shlex.quote(str(log)), policy=policy))
    (bin_dir / "docker").chmod(0o755)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    return done, log.read_text()


def test_the_policy_step_updates_every_container_and_checks_docker_took_it(inventory, builtin_book, tmp_path):
    script = _plan(inventory, builtin_book, *CASES[2]).phases[-1].steps[0].script
    done, calls = _run_policy_step(script, tmp_path, "unless-stopped")
    assert done.returncode == 0 and "restart_policy=unless-stopped" in done.stdout
    assert "update --restart unless-stopped c1 c2" in calls
    refused, _ = _run_policy_step(script, tmp_path, "no")
    assert refused.returncode == 1 and "did not take the restart policy for: /b" in refused.stderr


def _listener() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))
    server.listen()
    return server


def _supervise(port: int, wait: float, *command: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", entry.WORKER_SUPERVISOR, "127.0.0.1", str(port), str(wait),
                             *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_worker_waits_for_the_head_only_as_long_as_its_bound():
    started = time.monotonic()
    worker = _supervise(_free_port(), 1.5, "sleep", "30")
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 1 and "did not answer within 2 s" in err
    assert time.monotonic() - started < 20


def test_a_worker_leaves_when_the_head_goes_away_and_stops_its_ray():
    head = _listener()
    worker = _supervise(head.getsockname()[1], 30, "sleep", "300")
    try:
        time.sleep(1.5)
        assert worker.poll() is None, "the worker runs while its head answers"
        head.close()
        _, err = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 1 and "went away; leaving so that this worker joins it again" in err


def test_a_worker_whose_ray_exits_exits_with_it():
    head = _listener()
    try:
        worker = _supervise(head.getsockname()[1], 30, "sh", "-c", "exit 3")
        worker.communicate(timeout=20)
    finally:
        head.close()
    assert worker.returncode == 3


RECORDER = """#!/bin/sh
printf '%s\\n' "$(basename "$0") $*" >> {log}
exit {code}
"""


def test_the_head_does_not_serve_when_ray_or_the_cluster_is_missing(inventory, builtin_book, tmp_path):
    plan = _plan(inventory, builtin_book, *CASES[2])
    docker_run = next(line for line in plan.phases[2].steps[0].script.splitlines() if line.startswith("docker run"))
    words = shlex.split(docker_run)
    command = words[words.index("-c", words.index("--entrypoint")):]
    for failing, message in (("ray", "the Ray head did not start"), ("python3", "the cluster did not form within")):
        log = tmp_path / f"{failing}.log"
        bin_dir = tmp_path / f"bin-{failing}"
        bin_dir.mkdir()
        for name in ("ray", "python3", "vllm"):
            (bin_dir / name).write_text(RECORDER.format(log=shlex.quote(str(log)), code=int(name == failing)))
            (bin_dir / name).chmod(0o755)
        done = subprocess.run(["sh", *command], capture_output=True, text=True, timeout=10,
                              env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
        assert done.returncode == 1 and message in done.stderr
        assert "vllm serve" not in log.read_text(), f"{failing} failed, yet vllm serve started"
