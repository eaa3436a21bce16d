"""Hostile values stay data: each reaches its command as exactly one shell word, never shell syntax."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from orchestrator.config.book import RecipeBook
from orchestrator.config.inventory import load_inventory
from orchestrator.plan import planner
from orchestrator.plan.data import Plan
from orchestrator.plan.topology import Topology, assign

HOSTILE = [
    "$(touch {marker})",
    "x;touch {marker}",
    "`touch {marker}`",
    "it's",
    'say "hi" \'there\'',
    "two words",
    "x && touch {marker}",
    "x || touch {marker}",
    "x | tee {marker}",
    "x > {marker}",
    "$HOME",
    "*",
    "${{IFS}}",
    "x\\ny",
]


def _recipe(value: str, tp: int) -> dict:
    return {
        "model": f"M{value}",
        "revision": f"R{value}",
        "served_name": f"S{value}",
        "container": f"C{value}",
        "args": {
            "tensor-parallel-size": tp,
            "enforce-eager": tp > 1,
            "gpu-memory-utilization": 0.8,
            "free-text": f"A{value}",
            "list-arg": [f"L{value}", "plain"],
            "json-arg": {"k": value},
        },
        "env": {"HOSTILE_ENV": f"E{value}"},
        "mounts": {"data": f"/rm/{value}:/ctr/{value}"},
    }


def _inventory(value: str) -> dict:
    return {
        "defaults": {"mounts": {"extra": f"~/im/{value}:/im/{value}"}},
        "nodes": [
            {"name": "a", "ip": "192.0.2.1", "fabric_ip": "198.51.100.1", "fabric_if": "eth1", "rdma_dev": "mlx0"},
            {"name": "b", "ip": "192.0.2.2", "fabric_ip": "198.51.100.2", "fabric_if": "eth1", "rdma_dev": "mlx0"},
        ],
    }


def _plan(tmp_path: Path, value: str, topology: Topology) -> Plan:
    """Write hostile recipe and inventory files, load them through validation, and plan."""
    tp = 2 if topology is Topology.CLUSTER else 1
    recipes = tmp_path / "recipes"
    recipes.mkdir(exist_ok=True)
    (recipes / "hostile.yaml").write_text(yaml.safe_dump(_recipe(value, tp)), encoding="utf-8")
    inventory_path = tmp_path / "inventory.yaml"
    inventory_path.write_text(yaml.safe_dump(_inventory(value)), encoding="utf-8")
    inventory = load_inventory(inventory_path)
    recipe = RecipeBook([recipes]).resolve("hostile")
    return planner.plan_up(inventory, recipe, assign(topology, recipe, inventory, None))


def _lines(plan: Plan, phase_name: str) -> list[list[str]]:
    phase = next(p for p in plan.phases if p.name == phase_name)
    return [shlex.split(line) for step in phase.steps for line in step.script.splitlines()]


def _has_run(tokens: list[str], *run: str) -> bool:
    """Whether `run` appears as consecutive tokens."""
    return any(tokens[i:i + len(run)] == list(run) for i in range(len(tokens) - len(run) + 1))


def _docker_run(plan: Plan, phase_name: str) -> list[str]:
    return next(t for t in _lines(plan, phase_name) if t[:2] == ["docker", "run"])


def _container_words(value: str) -> list[tuple[str, ...]]:
    """Runs of words every `docker run` must contain, each hostile value whole."""
    return [
        (f"C{value}",),
        ("-e", f"HOSTILE_ENV=E{value}"),
        ("-v", f"/rm/{value}:/ctr/{value}"),
        ("-v", f"$HOME/im/{value}:/im/{value}"),
        ("--label", f"sparkctl.served-name=S{value}"),
    ]


def _serve_words(value: str) -> list[tuple[str, ...]]:
    """Runs of words `vllm serve` must contain, each hostile value whole."""
    return [
        ("--served-model-name", f"S{value}"),
        ("--revision", f"R{value}"),
        ("--free-text", f"A{value}"),
        ("--list-arg", f"L{value}", "plain"),
        ("--json-arg", json.dumps({"k": value}, separators=(",", ":"))),
    ]


@pytest.fixture(params=HOSTILE, ids=range(len(HOSTILE)))
def hostile(request, tmp_path: Path) -> str:
    return request.param.format(marker=tmp_path / "pwned")


def test_solo_container_command_keeps_each_value_one_word(tmp_path, hostile):
    tokens = _docker_run(_plan(tmp_path, hostile, Topology.SOLO), "serve")
    assert _has_run(tokens, "--entrypoint", "vllm") and _has_run(tokens, "serve", f"M{hostile}")
    for run in _container_words(hostile) + _serve_words(hostile):
        assert _has_run(tokens, *run), f"{run} not whole in {tokens}"


def test_cluster_serve_command_keeps_each_value_one_word(tmp_path, hostile):
    plan = _plan(tmp_path, hostile, Topology.CLUSTER)
    serve = _docker_run(plan, "ray-head")
    assert _has_run(serve, "vllm", "serve", f"M{hostile}")
    for run in _serve_words(hostile):
        assert _has_run(serve, *run), f"serve: {run} not whole"
    for phase in ("ray-head", "ray-workers"):
        tokens = _docker_run(plan, phase)
        for run in _container_words(hostile):
            assert _has_run(tokens, *run), f"{phase}: {run} not whole"


def test_host_dirs_created_are_whole_words(tmp_path, hostile):
    mkdir = next(t for t in _lines(_plan(tmp_path, hostile, Topology.SOLO), "serve") if t[:2] == ["for", "dir"])
    assert f"/rm/{hostile}" in mkdir
    assert f"$HOME/im/{hostile}" in mkdir


def test_preflight_inspects_the_image_as_one_word(tmp_path, hostile):
    lines = _lines(_plan(tmp_path, hostile, Topology.CLUSTER), "preflight")
    inspect = next(t for t in lines if t[0].startswith("layers=$(docker"))
    assert _has_run(inspect, "inspect", "--format", "{{json .RootFS.Layers}}", f"C{hostile}")
    ray_check = next(t for t in lines if t[:3] == ["docker", "run", "--rm"] and "ray" in t)
    assert _has_run(ray_check, "--entrypoint", "ray", f"C{hostile}", "--version")


def test_every_rendered_line_is_one_line(tmp_path, hostile):
    for topology in (Topology.SOLO, Topology.CLUSTER):
        for phase in _plan(tmp_path, hostile, topology).phases:
            for step in phase.steps:
                for line in step.script.splitlines():
                    shlex.split(line)  # an unbalanced quote would mean a value broke out of its word


STUB = """
record() {{ printf '%s\\0' "$@" >> {log}; }}
docker() {{ record docker "$@"; }}
mkdir() {{ record mkdir "$@"; }}
"""


def _run_with_stubs(script: str, tmp_path: Path) -> list[str]:
    """Run a rendered script under bash with docker/mkdir replaced by recorders; the argv they got."""
    log = tmp_path / "argv.log"
    log.write_bytes(b"")
    stub = STUB.format(log=shlex.quote(str(log)))
    subprocess.run(["bash", "-c", stub + script], check=True, timeout=10, cwd=tmp_path,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")})
    return log.read_bytes().decode().split("\0")


def test_bash_receives_each_value_as_one_argument(tmp_path, hostile):
    plan = _plan(tmp_path, hostile, Topology.SOLO)
    script = next(p for p in plan.phases if p.name == "serve").steps[0].script
    argv = _run_with_stubs(script, tmp_path)
    assert not (tmp_path / "pwned").exists(), "a hostile value ran as shell code"
    assert _has_run(argv, "--entrypoint", "vllm") and _has_run(argv, "serve", f"M{hostile}")
    assert _has_run(argv, "-v", f"{tmp_path / 'home'}/im/{hostile}:/im/{hostile}")
    assert _has_run(argv, "-e", f"HOSTILE_ENV=E{hostile}")


ENTRY_STUB = """#!/bin/sh
printf '%s\\0' "$(basename "$0")" "$@" >> {log}
"""


def _run_entry(docker_argv: list[str], tmp_path: Path) -> list[str]:
    """Run a container's `sh -c` entry script as docker would, with ray, python3 and vllm as recorders."""
    bin_dir, log = tmp_path / "bin", tmp_path / "entry.log"
    bin_dir.mkdir(exist_ok=True)
    for name in ("ray", "python3", "vllm"):
        (bin_dir / name).write_text(ENTRY_STUB.format(log=shlex.quote(str(log))))
        (bin_dir / name).chmod(0o755)
    command = docker_argv[docker_argv.index("-c", docker_argv.index("--entrypoint")):]
    subprocess.run(["sh", *command], check=True, timeout=10, cwd=tmp_path, env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                   capture_output=True)
    return log.read_bytes().decode().split("\0")


def test_bash_head_serve_passes_model_as_one_argument(tmp_path, hostile):
    plan = _plan(tmp_path, hostile, Topology.CLUSTER)
    script = next(p for p in plan.phases if p.name == "ray-head").steps[0].script
    argv = _run_with_stubs(script, tmp_path)
    assert _has_run(argv, "--entrypoint", "sh", f"C{hostile}", "-c")
    ran = _run_entry(argv, tmp_path)  # through the second shell: the head's entry script
    assert not (tmp_path / "pwned").exists()
    assert _has_run(ran, "ray", "start", "--head") and "python3" in ran
    assert _has_run(ran, "vllm", "serve", f"M{hostile}", "--host")
    for run in _serve_words(hostile):
        assert _has_run(ran, *run), f"entry: {run} not whole"
