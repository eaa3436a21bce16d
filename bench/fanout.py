"""Fan-out of `sparkctl drop-caches` on a 32-node simulated cluster against an `ssh &` loop and ansible.

Run as root from the repository root: `.venv/bin/python bench/fanout.py [--runs 5]`. The script waits until no
other simulated cluster exists, starts its own (`--no-docker`), measures, and always tears it down. Every
method runs the same drop-caches shell; a run counts only if every node's drop_caches file then holds `3`.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import snapshot
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
SPARKCTL = ROOT / ".venv" / "bin" / "sparkctl"
SIM_DIR = ROOT / ".sim" / "bench"
WORK_DIR = ROOT / ".sim" / "bench-work"
ANSIBLE_VENV = ROOT / ".sim" / "bench-venv"
NODES = 32
RUN_TIMEOUT = 120.0
SIM_TIMEOUT = 180.0
WAIT_FOR_SIM = 20 * 60.0
POLL = 30.0
TARGET_SCALING = 1.5
TARGET_ANSIBLE = 10.0
MEM = "awk '/^MemAvailable:/ {print $2}' /proc/meminfo"
DROP_SHELL = (f'echo "mem_available_kb_before=$({MEM})"; sync; echo 3 > /proc/sys/vm/drop_caches; '
              f'echo "mem_available_kb_after=$({MEM})"')

Method = Callable[[], subprocess.CompletedProcess]
PHASE_DONE = re.compile(r"Drop page cache done \((\d+(?:\.\d+)?)s\)")


@dataclass(frozen=True)
class Bench:
    """One measured method: what to run, on how many nodes, and untimed clean-up after each run."""

    run: Method
    nodes: int
    after: Callable[[], None] = lambda: None


# ---- set-up ----------------------------------------------------------------------------------------
def ensure_ansible() -> Path:
    """ansible-core in its own venv (never the project's), installed with pip on first use."""
    ansible = ANSIBLE_VENV / "bin" / "ansible"
    if not ansible.exists():
        print(f"installing ansible-core into {ANSIBLE_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True, timeout=120)
        subprocess.run([str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"], check=True, timeout=600)
    return ansible


def sim_namespaces() -> list[str]:
    """Network namespaces of any simulated cluster (ours or someone else's)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True, timeout=10)
    names = (line.split()[0] for line in listing.stdout.splitlines() if line.strip())
    return [name for name in names if name.startswith("sn") and name[2:].isdigit()]


def wait_for_free_sim() -> None:
    """Block (bounded) until no simulated cluster exists: only one can run on this machine."""
    deadline = time.monotonic() + WAIT_FOR_SIM
    while busy := sim_namespaces():
        if time.monotonic() > deadline:
            raise SystemExit(f"a simulated cluster is still up after {WAIT_FOR_SIM / 60:g} min ({len(busy)} nodes)")
        print(f"a simulated cluster is up ({len(busy)} nodes); waiting {POLL:g}s", flush=True)
        time.sleep(POLL)


def sim(*args: str) -> None:
    """Run `python -m tests.sim ARGS --dir SIM_DIR`."""
    argv = [str(PYTHON), "-m", "tests.sim", *args, "--dir", str(SIM_DIR)]
    subprocess.run(argv, cwd=ROOT, check=True, timeout=SIM_TIMEOUT)


def write_inputs() -> dict[str, Path]:
    """The one-node inventory, the ansible inventory and ansible.cfg, derived from SIM_DIR."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    inventory = yaml.safe_load((SIM_DIR / "inventory.yaml").read_text())
    one = WORK_DIR / "inventory-1.yaml"
    one.write_text(yaml.safe_dump({**inventory, "nodes": inventory["nodes"][:1]}, sort_keys=False))
    hosts = WORK_DIR / "hosts.ini"
    hosts.write_text(ansible_inventory(inventory["nodes"]))
    config = WORK_DIR / "ansible.cfg"
    config.write_text(f"[defaults]\nlocal_tmp = {WORK_DIR / 'ansible-tmp'}\n")
    return {"one": one, "hosts": hosts, "config": config}


def ansible_inventory(nodes: list[dict]) -> str:
    """An INI inventory of the simulated nodes with the cluster's key and known_hosts."""
    lines = ["[spark]", *(f"{n['name']} ansible_host={n['ip']}" for n in nodes), "", "[spark:vars]",
             "ansible_user=root",
             f"ansible_ssh_private_key_file={SIM_DIR / 'id_ed25519'}",
             f"ansible_ssh_common_args='-o UserKnownHostsFile={SIM_DIR / 'known_hosts'} "
             "-o StrictHostKeyChecking=yes'",
             # An explicit interpreter spares ansible its discovery round-trip: its best case.
             "ansible_python_interpreter=/usr/bin/python3"]
    return "\n".join(lines) + "\n"


# ---- the methods -----------------------------------------------------------------------------------
def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run one measured command, output captured, bounded."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, cwd=WORK_DIR)


def sparkctl(inventory: Path, env: dict[str, str]) -> Method:
    """`sparkctl --inventory INV drop-caches --all`."""
    return lambda: run([str(SPARKCTL), "--inventory", str(inventory), "drop-caches", "--all"], env)


def import_seconds(env: dict[str, str], runs: int = 5) -> float:
    """Median seconds for the interpreter to start and import what `drop-caches` imports (no SSH)."""
    argv = [str(PYTHON), "-c", "import orchestrator.cli.main, orchestrator.ops.caches, orchestrator.report.console"]
    run(argv, env)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run(argv, env).check_returncode()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def ssh_loop(names: list[str]) -> Method:
    """A bash `ssh &` loop over the nodes, then `wait`; each line prefixed with its node."""
    config = SIM_DIR / "ssh_config"
    script = (f'for h in {" ".join(names)}; do ssh -F {config} "$h" "$CMD" | sed "s/^/$h /" & done; wait')
    return lambda: run(["bash", "-c", script], env={"PATH": "/usr/bin:/bin", "CMD": DROP_SHELL})


def control_dir() -> Path:
    """Where ansible's ssh keeps its ControlMaster sockets."""
    return WORK_DIR / "cp"


def ansible(binary: Path, inputs: dict[str, Path]) -> Method:
    """`ansible all -m shell -f 32` with its default ssh multiplexing, started fresh each run (see close_masters)."""

    def go() -> subprocess.CompletedProcess:
        control = control_dir()
        control.mkdir(parents=True, exist_ok=True)
        env = {"PATH": f"{binary.parent}:/usr/bin:/bin", "HOME": str(WORK_DIR), "ANSIBLE_CONFIG": str(inputs["config"]),
               "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control), "LANG": "C.UTF-8"}
        return run([str(binary), "all", "-i", str(inputs["hosts"]), "-m", "shell", "-a", DROP_SHELL,
                    "-f", str(NODES)], env=env)

    return go


def close_masters() -> None:
    """End the ControlPersist masters ansible left, so the next run connects anew like the other methods."""
    for socket in control_dir().glob("*"):
        subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "node"], capture_output=True, timeout=10)
        socket.unlink(missing_ok=True)


# ---- verification and timing -----------------------------------------------------------------------
def drop_files(count: int) -> list[Path]:
    """Each node's drop_caches stand-in (bind-mounted over /proc/sys/vm/drop_caches in the node)."""
    return [SIM_DIR / "nodes" / f"spark{i}" / "drop_caches" for i in range(1, count + 1)]


def reset(files: list[Path]) -> None:
    """Write 0 into every drop file (in place: the bind mount keeps the inode)."""
    for path in files:
        path.write_text("0\n")


def verify(done: subprocess.CompletedProcess, files: list[Path]) -> str | None:
    """Why the run does not count, or None when every node's drop file holds 3 and the output names every node."""
    if done.returncode != 0:
        return f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-400:]}"
    wrong = [p.parent.name for p in files if p.read_text().strip() != "3"]
    if wrong:
        return f"drop file not 3 on {', '.join(wrong)}"
    missing = [p.parent.name for p in files if not re.search(rf"\b{p.parent.name}\b", done.stdout)]
    if missing:
        return f"output does not mention {', '.join(missing)}"
    return None if re.search(r"mem_available_kb_after=\d|GiB", done.stdout) else "no MemAvailable in the output"


def timed(bench: Bench) -> tuple[float, float, subprocess.CompletedProcess]:
    """Seconds, CPU seconds on this side (the method's processes) and output of one verified run.

    Raises when the run did not do the work.
    """
    files = drop_files(bench.nodes)
    reset(files)
    cpu_before = children_cpu()
    started = time.perf_counter()
    done = bench.run()
    seconds = time.perf_counter() - started
    cpu = children_cpu() - cpu_before
    bench.after()
    problem = verify(done, files)
    if problem:
        raise RuntimeError(problem)
    return seconds, cpu, done


def children_cpu() -> float:
    """User + system CPU seconds of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(benches: dict[str, Bench], runs: int) -> dict[str, list[float]]:
    """One untimed warm-up each, then `runs` interleaved verified runs of every method.

    For sparkctl, `<label> phase` also collects the drop-caches phase time it reports (connect + run, 0.1 s);
    `<label> cpu` is the CPU time of the method's own processes (the client side, not the nodes' sshd).
    """
    for label, bench in benches.items():
        print(f"warm-up: {label} {timed(bench)[0]:.2f}s", flush=True)
    samples: dict[str, list[float]] = {label: [] for label in benches}
    for index in range(runs):
        for label, bench in benches.items():
            seconds, cpu, done = timed(bench)
            samples[label].append(seconds)
            samples.setdefault(f"{label} cpu", []).append(cpu)
            if phase := PHASE_DONE.search(done.stderr):
                samples.setdefault(f"{label} phase", []).append(float(phase.group(1)))
        print(f"run {index + 1}/{runs}: " + ", ".join(f"{k} {samples[k][-1]:.2f}s" for k in benches), flush=True)
    return samples


def report(samples: dict[str, list[float]], imports: float) -> bool:
    """Print min/median per method and the ratios against their targets; True when both targets hold."""
    print()
    for label, values in samples.items():
        print(f"{label:<26} min {min(values):6.2f} s   median {statistics.median(values):6.2f} s")
    print(f"{'sparkctl start + imports':<26}              median {imports:6.2f} s  (python -c 'import ...', no SSH)")
    median = {label: statistics.median(values) for label, values in samples.items()}
    scaling = median["sparkctl-32"] / median["sparkctl-1"]
    versus_ansible = median["ansible-32"] / median["sparkctl-32"]
    versus_loop = median["ssh-loop-32"] / median["sparkctl-32"]
    print(f"sparkctl-32 / sparkctl-1: {scaling:5.2f}x (target <= {TARGET_SCALING}x): "
          f"{'ok' if scaling <= TARGET_SCALING else 'MISSED'}")
    print(f"ansible-32 / sparkctl-32: {versus_ansible:5.2f}x (target >= {TARGET_ANSIBLE}x): "
          f"{'ok' if versus_ansible >= TARGET_ANSIBLE else 'MISSED'}")
    print(f"ssh-loop-32 / sparkctl-32: {versus_loop:5.2f}x (no target)")
    return scaling <= TARGET_SCALING and versus_ansible >= TARGET_ANSIBLE


def benches(inputs: dict[str, Path], binary: Path, env: dict[str, str]) -> dict[str, Bench]:
    """Every measured method, by label."""
    names = [f"spark{i}" for i in range(1, NODES + 1)]
    return {
        "sparkctl-32": Bench(sparkctl(SIM_DIR / "inventory.yaml", env), NODES),
        "sparkctl-1": Bench(sparkctl(inputs["one"], env), 1),
        "ssh-loop-32": Bench(ssh_loop(names), NODES),
        "ansible-32": Bench(ansible(binary, inputs), NODES, close_masters),
    }


def main(argv: list[str] | None = None) -> int:
    """Set up, measure on a fresh cluster, always tear it down; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--source", default="HEAD", help=f"git revision to measure, or {snapshot.WORKTREE!r}")
    args = parser.parse_args(argv)
    binary = ensure_ansible()
    what = snapshot.export(args.source, WORK_DIR / "fanout-src")
    env = snapshot.environment(WORK_DIR / "fanout-src", WORK_DIR / "pycache")
    imports = import_seconds(env)
    print(f"sparkctl from {what}; bytecode cached", flush=True)
    wait_for_free_sim()
    # SIGTERM becomes SystemExit, so the finally below still tears the cluster down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sim("up", "--nodes", str(NODES), "--no-docker")
        samples = measure(benches(write_inputs(), binary, env), args.runs)
    finally:
        close_masters()
        sim("down")
        shutil.rmtree(control_dir(), ignore_errors=True)
    print(f"{args.runs} interleaved verified runs per method after one warm-up; every connection new each run")
    return 0 if report(samples, imports) else 1


if __name__ == "__main__":
    sys.exit(main())
