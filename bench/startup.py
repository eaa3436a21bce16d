"""Start-up cost of `sparkctl --help` against a bare `import click, yaml` with the same interpreter.

Run from the repository root: `.venv/bin/python bench/startup.py [--runs 20] [--source HEAD|worktree]`. Prints
min/median of each, the ratio of medians (target <= 2.5x) and, when over target, the modules `sparkctl --help`
imports beyond the baseline, heaviest first.
"""

from __future__ import annotations

import argparse
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
TIMEOUT = 30.0
WARMUP = 2


def commands() -> dict[str, list[str]]:
    """The two measured command lines, by label."""
    return {
        "sparkctl --help": [str(SPARKCTL), "--help"],
        "python -c 'import click, yaml'": [str(PYTHON), "-c", "import click, yaml"],
    }


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of one run; fails loudly on a non-zero exit."""
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=TIMEOUT, env=env)
    return time.perf_counter() - started


def measure(runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    """Run every command `runs` times, interleaved, after a few untimed warm-up runs."""
    argvs = commands()
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


def extra_imports(env: dict[str, str]) -> list[tuple[str, tuple[int, int]]]:
    """Modules `sparkctl --help` imports that the baseline does not, heaviest (self time) first."""
    product, baseline = (import_times(argv, env) for argv in commands().values())
    extra = {name: micros for name, micros in product.items() if name not in baseline}
    return sorted(extra.items(), key=lambda item: item[1][0], reverse=True)


def report(samples: dict[str, list[float]]) -> float:
    """Print min/median per command; return the ratio of medians."""
    for label, values in samples.items():
        print(f"{label:<34} min {min(values) * 1000:7.1f} ms   median {statistics.median(values) * 1000:7.1f} ms")
    product, baseline = (statistics.median(values) for values in samples.values())
    ratio = product / baseline
    verdict = "ok" if ratio <= TARGET else "OVER TARGET"
    print(f"ratio of medians: {ratio:.2f}x (target <= {TARGET}x): {verdict}")
    return ratio


def show_extra_imports(limit: int, env: dict[str, str]) -> None:
    """Print the heaviest modules imported beyond the baseline."""
    extra = extra_imports(env)
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
    print(f"sparkctl from {what}; {args.runs} interleaved runs each after {WARMUP} warm-ups; bytecode cached")
    ratio = report(measure(args.runs, env))
    if ratio > TARGET or args.show_imports:
        show_extra_imports(args.limit, env)
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
