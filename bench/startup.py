"""Start-up cost of `sparkctl --help` and of one-node `drop-caches`/`status`, each against a bare-import floor.

Run from the repository root: `.venv/bin/python bench/startup.py [--runs 20] [--source HEAD|worktree]`. Prints
min/median of each, the ratios of medians (`--help` over `import click, yaml`: target <= 2.5x; `drop-caches` and
`status` on one node over `import fabric, paramiko, yaml, jinja2, click`: target <= 1.5x) and, when over
target, the modules `sparkctl --help` imports beyond its baseline, heaviest first.

The node commands run against a one-node inventory whose SSH port refuses connections, so each does all of its
local work (imports, inventory, plan, templates, progress) and stops at the connect, with no network wait.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import snapshot

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
SPARKCTL = ROOT / ".venv" / "bin" / "sparkctl"
WORK_DIR = ROOT / ".sim" / "bench-work"
TARGET = 2.5
NODE_TARGET = 1.5
TIMEOUT = 30.0
WARMUP = 2
HELP, BASELINE = "sparkctl --help", "python -c 'import click, yaml'"
FLOOR = "python -c 'import fabric, paramiko, yaml, jinja2, click'"
NODE_COMMANDS = ("drop-caches", "status")
REFUSED = "cannot connect over SSH"  # a node command's expected end: it did all its local work first


def refused_port() -> int:
    """A local TCP port nothing listens on (connecting to it is refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_node_inventory() -> Path:
    """An inventory of one node on 127.0.0.1 whose SSH port refuses connections."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path = WORK_DIR / "startup-inventory.yaml"
    path.write_text(f"nodes:\n  - name: spark1\n    ip: 127.0.0.1\n    port: {refused_port()}\n")
    return path


def commands(inventory: Path) -> dict[str, list[str]]:
    """Every measured command line, by label."""
    nodes = {f"sparkctl {c} (1 node)": [str(SPARKCTL), "--inventory", str(inventory), c] for c in NODE_COMMANDS}
    nodes["sparkctl drop-caches (1 node)"].append("--all")
    return {HELP: [str(SPARKCTL), "--help"], BASELINE: [str(PYTHON), "-c", "import click, yaml"],
            **nodes, FLOOR: [str(PYTHON), "-c", "import fabric, paramiko, yaml, jinja2, click"]}


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of one run; fails loudly unless it exits 0 (or, for a node command, at the connect)."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0 and not (argv[0] == str(SPARKCTL) and REFUSED in done.stderr):
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return seconds


def measure(runs: int, env: dict[str, str], argvs: dict[str, list[str]]) -> dict[str, list[float]]:
    """Run every command `runs` times, interleaved, after a few untimed warm-up runs."""
    for _ in range(WARMUP):
        for argv in argvs.values():
            timed(argv, env)
    samples: dict[str, list[float]] = {label: [] for label in argvs}
    for _ in range(runs):
        for label, argv in argvs.items():
            samples[label].append(timed(argv, env))
    return samples


def import_times(argv: list[str], env: dict[str, str]) -> dict[str, tuple[int, int]]:
    """(self, cumulative) import time in microseconds per module, from `-X importtime`."""
    script = argv[1:] if argv[0] == str(PYTHON) else [argv[0], *argv[1:]]
    done = subprocess.run([str(PYTHON), "-X", "importtime", *script], capture_output=True, text=True,
                          timeout=TIMEOUT, check=True, env=env)
    times: dict[str, tuple[int, int]] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "cumulative" in line:
            continue
        own, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        times[name] = (int(own), int(cumulative))
    return times


def extra_imports(env: dict[str, str], argvs: dict[str, list[str]]) -> list[tuple[str, tuple[int, int]]]:
    """Modules `sparkctl --help` imports that the baseline does not, heaviest (self time) first."""
    product, baseline = (import_times(argvs[label], env) for label in (HELP, BASELINE))
    extra = {name: micros for name, micros in product.items() if name not in baseline}
    return sorted(extra.items(), key=lambda item: item[1][0], reverse=True)


def report(samples: dict[str, list[float]]) -> dict[str, bool]:
    """Print min/median per command and each ratio of medians; return, per ratio, whether it is on target."""
    for label, values in samples.items():
        print(f"{label:<58} min {min(values) * 1000:7.1f} ms   median {statistics.median(values) * 1000:7.1f} ms")
    median = {label: statistics.median(values) for label, values in samples.items()}
    pairs = {HELP: (BASELINE, TARGET), **{label: (FLOOR, NODE_TARGET) for label in median if "(1 node)" in label}}
    verdicts = {}
    for label, (floor, target) in pairs.items():
        ratio = median[label] / median[floor]
        verdicts[label] = ratio <= target
        print(f"{label} / floor: {ratio:.2f}x (target <= {target}x): {'ok' if verdicts[label] else 'OVER TARGET'}")
    return verdicts


def show_extra_imports(limit: int, env: dict[str, str], argvs: dict[str, list[str]]) -> None:
    """Print the heaviest modules imported beyond the baseline."""
    extra = extra_imports(env, argvs)
    print(f"{len(extra)} modules imported by `sparkctl --help` beyond click and yaml "
          "(self / cumulative ms; cumulative includes click where a module imports it):")
    for name, (own, cumulative) in extra[:limit]:
        print(f"  {own / 1000:7.1f} / {cumulative / 1000:7.1f}  {name}")


def main(argv: list[str] | None = None) -> int:
    """Measure, report; exit 1 when over target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--show-imports", action="store_true", help="list extra imports even when on target")
    parser.add_argument("--limit", type=int, default=25, help="how many extra imports to list")
    parser.add_argument("--source", default="HEAD", help=f"git revision to measure, or {snapshot.WORKTREE!r}")
    args = parser.parse_args(argv)
    tree = WORK_DIR / "startup-src"
    what = snapshot.export(args.source, tree)
    env = snapshot.environment(tree, WORK_DIR / "pycache")
    argvs = commands(one_node_inventory())
    print(f"sparkctl from {what}; {args.runs} interleaved runs each after {WARMUP} warm-ups; bytecode cached")
    verdicts = report(measure(args.runs, env, argvs))
    if not verdicts[HELP] or args.show_imports:
        show_extra_imports(args.limit, env, argvs)
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
