"""Time of `sparkctl up cluster` on 2, 4 and 8 simulated Sparks for both backends, against a floor in the same run.

Run as root from the repository root: `.venv/bin/python bench/up.py [--nodes 2,4,8] [--backends ray,mp] [--runs 2]`.
The floor runs the very launch scripts of sparkctl's own plan (Ray head, workers, gate, serve, or the ranks and
their gate) straight over OpenSSH, each phase's nodes at once, then polls the plan's readiness probe back to
back: what any launcher pays for the containers, Ray's start and the engine's load on these nodes.
sparkctl's own overhead is its time minus the floor's (preflight, page-cache drop, its cadence of polls).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import snapshot

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sim import Cluster  # noqa: E402
from tests.sim.modelcache import seed_catalog  # noqa: E402

SPARKCTL = ROOT / ".venv" / "bin" / "sparkctl"
SIM_DIR = Path("/var/lib/sparkctl-sim/bench-up")
WORK_DIR = ROOT / ".sim" / "bench-up-work"
RECIPE = "qwen3-30b-a3b-instruct-fp8"  # its image's vLLM (0.33) runs both backends
LAUNCH_PHASES = {"ray": ("ray-head", "ray-workers", "ray-gate", "serve"), "mp": ("rank-0", "ranks", "rank-gate")}
# sparkctl's own overhead, seconds, by node count: the targets (interpolated for 4).
TARGETS = {2: 2.0, 4: 3.0, 8: 4.0}
RUN_TIMEOUT = 600.0
READY_DEADLINE = 300.0
# The floor reuses one SSH connection per node (as sparkctl does), opened before the timing starts.
MULTIPLEX = ("-o", f"ControlPath={WORK_DIR}/cm-%h")
PHASE_DONE = re.compile(r"^\s+(.+?) done \((\d+(?:\.\d+)?)s\)$", re.M)


def sparkctl(env: dict[str, str], *args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    """Run the snapshot's sparkctl against the bench cluster, output captured, bounded."""
    argv = [str(SPARKCTL), "--inventory", str(SIM_DIR / "inventory.yaml"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=WORK_DIR)


def up_args(nodes: int, backend: str) -> list[str]:
    """The `up cluster` arguments shared by sparkctl and the floor's plan."""
    names = ",".join(f"spark{i}" for i in range(1, nodes + 1))
    return ["cluster", RECIPE, "--backend", backend, "--nodes", names, "--set", f"tensor-parallel-size={nodes}"]


def down(env: dict[str, str]) -> None:
    """Remove the deployment (untimed) and make sure it is gone."""
    sparkctl_check(env, "down")


def timed_sparkctl(env: dict[str, str], nodes: int, backend: str) -> tuple[float, dict[str, float]]:
    """Seconds of one `sparkctl up cluster` and the phase times it printed."""
    started = time.perf_counter()
    done = sparkctl(env, "up", *up_args(nodes, backend))
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
        raise RuntimeError(f"sparkctl up failed ({done.returncode}): {' / '.join(errors)[:800] or done.stderr[-800:]}")
    return seconds, {name: float(value) for name, value in PHASE_DONE.findall(done.stderr)}


def ssh_script(cluster: Cluster, node: str, script: str, exports: str, timeout: float) -> subprocess.CompletedProcess:
    """One script on one node over plain OpenSSH, secrets exported on stdin like sparkctl does."""
    argv = ["ssh", "-F", str(cluster.ssh_config), *MULTIPLEX, node, f"timeout {int(timeout) + 1} bash -se"]
    return subprocess.run(argv, input="set -euo pipefail\n" + exports + script, capture_output=True, text=True,
                          timeout=timeout + 10)


def timed_floor(env: dict[str, str], cluster: Cluster, nodes: int, backend: str) -> float:
    """Seconds for the plan's launch scripts run straight over SSH, then its readiness probe back to back."""
    plan = json.loads(sparkctl_check(env, "--json", "plan", *up_args(nodes, backend)).stdout)
    exports = "".join(f"export {name}={secrets.token_hex(16)}\n" for name in plan["secrets"])
    phases = {phase["name"]: phase["steps"] for phase in plan["phases"]}
    ready = phases["readiness"][0]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=nodes) as pool:
        for name in LAUNCH_PHASES[backend]:
            runs = [pool.submit(ssh_script, cluster, s["node"], s["script"], exports, s["timeout"]) for s in phases[name]]
            for done in (run.result() for run in runs):
                if done.returncode != 0:
                    raise RuntimeError(f"floor phase {name} failed: {done.stderr[-800:]}")
    while time.perf_counter() - started < READY_DEADLINE:
        probe = ssh_script(cluster, ready["node"], ready["script"], exports, 70)
        if "completion_code=200" in probe.stdout:
            return time.perf_counter() - started
    raise RuntimeError(f"floor: not ready after {READY_DEADLINE:g}s: {probe.stdout[-400:]}")


def sparkctl_check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """sparkctl that must succeed."""
    done = sparkctl(env, *args)
    if done.returncode != 0:
        raise RuntimeError(f"sparkctl {' '.join(args)} failed: {done.stderr[-800:]}")
    return done


def open_masters(cluster: Cluster) -> None:
    """Start one backgrounded SSH master per node (its output to /dev/null, so no pipe waits on it)."""
    for node in cluster.nodes:
        subprocess.run(["ssh", "-F", str(cluster.ssh_config), *MULTIPLEX, "-o", "ControlMaster=yes",
                        "-o", "ControlPersist=900", "-fN", node.name], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=True)


def warm_up(env: dict[str, str], cluster: Cluster, shapes: list[tuple[int, str]]) -> None:
    """One untimed run of each method per shape: sparkctl caches each image's flag table, SSH masters open."""
    for nodes, backend in shapes:
        seconds, _phases = timed_sparkctl(env, nodes, backend)
        down(env)
        floor = timed_floor(env, cluster, nodes, backend)
        down(env)
        print(f"warm-up {nodes} nodes {backend}: sparkctl {seconds:.2f}s, floor {floor:.2f}s", flush=True)


def measure(env: dict[str, str], cluster: Cluster, shapes: list[tuple[int, str]], runs: int) -> dict:
    """Interleaved runs of sparkctl and the floor per shape, each followed by an untimed `down`."""
    samples: dict[tuple[int, str], dict[str, list]] = {shape: {"sparkctl": [], "floor": [], "phases": []}
                                                       for shape in shapes}
    for index in range(runs):
        for nodes, backend in shapes:
            seconds, phases = timed_sparkctl(env, nodes, backend)
            down(env)
            floor = timed_floor(env, cluster, nodes, backend)
            down(env)
            row = samples[(nodes, backend)]
            row["sparkctl"].append(seconds)
            row["floor"].append(floor)
            row["phases"].append(phases)
            print(f"run {index + 1}/{runs} {nodes} nodes {backend}: sparkctl {seconds:.2f}s, floor {floor:.2f}s",
                  flush=True)
    return samples


def report(samples: dict) -> bool:
    """Print the table: medians, sparkctl's overhead against its target, and its biggest phases."""
    header = f"{'nodes':>5} {'backend':<7} {'sparkctl':>9} {'floor':>7} {'overhead':>9} {'target':>7}"
    print(f"\n{header}  verdict   phases (median s)")
    met = True
    for (nodes, backend), row in samples.items():
        ours, floor = statistics.median(row["sparkctl"]), statistics.median(row["floor"])
        overhead, target = ours - floor, TARGETS.get(nodes, 4.0)
        met &= overhead <= target
        names = row["phases"][0].keys()
        phases = ", ".join(f"{n} {statistics.median(p.get(n, 0.0) for p in row['phases']):.1f}" for n in names)
        print(f"{nodes:>5} {backend:<7} {ours:>8.2f}s {floor:>6.2f}s {overhead:>8.2f}s {target:>6.1f}s  "
              f"{'ok' if overhead <= target else 'MISSED':<8}  {phases}")
    return met


def main(argv: list[str] | None = None) -> int:
    """Start an 8-node simulated cluster with engines, measure, always tear it down; exit 1 on a missed target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="2,4,8", help="comma-separated node counts")
    parser.add_argument("--backends", default="ray,mp")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--source", default="HEAD", help=f"git revision to measure, or {snapshot.WORKTREE!r}")
    args = parser.parse_args(argv)
    counts = sorted(int(n) for n in args.nodes.split(","))
    shapes = [(n, b) for n in counts for b in args.backends.split(",")]
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    what = snapshot.export(args.source, WORK_DIR / "src")
    env = snapshot.environment(WORK_DIR / "src", WORK_DIR / "pycache")
    env["XDG_STATE_HOME"], env["XDG_CONFIG_HOME"] = str(WORK_DIR / "state"), str(WORK_DIR / "config")
    print(f"sparkctl from {what}; {max(counts)} simulated nodes; recipe {RECIPE}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cluster = Cluster(SIM_DIR)
    try:
        cluster.up(max(counts))
        seed_catalog(cluster.nodes)
        open_masters(cluster)
        warm_up(env, cluster, shapes)
        samples = measure(env, cluster, shapes, args.runs)
    finally:
        sparkctl(env, "down", timeout=120)
        for node in cluster.nodes:
            subprocess.run(["ssh", "-F", str(cluster.ssh_config), *MULTIPLEX, "-O", "exit", node.name],
                           capture_output=True, timeout=10)
        cluster.down()
    print(f"\nafter one warm-up, {args.runs} interleaved runs per shape; overhead = sparkctl - floor (the same "
          "scripts over multiplexed plain ssh, no preflight or page-cache drop, readiness polled back to back)")
    return 0 if report(samples) else 1


if __name__ == "__main__":
    sys.exit(main())
