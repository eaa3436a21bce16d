"""Stored benchmark runs: one JSON file per run under the user's data dir, read back as rows."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError

SCHEMA = "sparkctl-bench/1"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
METRICS = ("pp_throughput", "tg_throughput", "ttfr", "e2e_ttft")


class BenchDataError(ConfigError):
    """A stored run is missing or unreadable."""


def data_dir() -> Path:
    """sparkctl's per-user data dir (XDG)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "sparkctl"


def bench_dir() -> Path:
    """Where runs are stored."""
    return data_dir() / "bench"


@dataclass(frozen=True)
class Row:
    """One llama-benchy test: a concurrency, prompt, reply and depth, with its mean metrics."""

    concurrency: int
    pp: int
    tg: int
    depth: int
    pp_tps: float | None
    tg_tps: float | None
    ttfr_ms: float | None
    e2e_ttft_ms: float | None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """What makes two rows comparable."""
        return self.concurrency, self.pp, self.tg, self.depth


def _mean(bench: dict[str, Any], metric: str) -> float | None:
    value = bench.get(metric)
    mean = value.get("mean") if isinstance(value, dict) else None
    return float(mean) if isinstance(mean, int | float) else None


def rows_of(result: dict[str, Any] | None) -> list[Row]:
    """llama-benchy's JSON as rows, skipping prefix-caching context phases."""
    if not result:
        return []
    benchmarks = result.get("benchmarks")
    if not isinstance(benchmarks, list):
        raise ValueError("llama-benchy result has no 'benchmarks' list")
    rows = []
    for bench in benchmarks:
        if not isinstance(bench, dict) or bench.get("is_context_prefill_phase"):
            continue
        rows.append(Row(int(bench["concurrency"]), int(bench.get("prompt_size") or 0), int(bench.get("response_size") or 0),
                        int(bench.get("context_size") or 0), *(_mean(bench, m) for m in METRICS)))
    return sorted(rows, key=lambda r: r.shape)


@dataclass(frozen=True)
class Run:
    """One stored benchmark run."""

    id: str
    data: dict[str, Any]
    rows: list[Row]

    @property
    def status(self) -> str:
        """complete, partial, failed or interrupted."""
        return self.data.get("status", "?")

    def get(self, *keys: str) -> Any:
        """A nested value, or None."""
        value: Any = self.data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value


def new_run_id(stamp: str, recipe: str, topology: str) -> str:
    """A unique, readable id: time, recipe and topology."""
    base = f"{stamp}-{recipe}" if recipe.endswith(f"-{topology}") else f"{stamp}-{recipe}-{topology}"
    candidate, number = base, 2
    while (bench_dir() / f"{candidate}.json").exists():
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def save(data: dict[str, Any]) -> Path:
    """Write a run atomically; returns its path."""
    directory = bench_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{data['id']}.json"
    temp = path.with_suffix(".json.tmp")
    temp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    temp.replace(path)
    return path


def load(run_id: str) -> Run:
    """A stored run by id (or path to its file)."""
    path = Path(run_id) if run_id.endswith(".json") else bench_dir() / f"{run_id}.json"
    if not run_id.endswith(".json") and not RUN_ID.match(run_id):
        raise BenchDataError(f"'{run_id}' is not a run id; list them with 'sparkctl bench list'")
    if not path.is_file():
        hint = _close_ids(run_id)
        raise BenchDataError(f"no stored run '{run_id}' in {bench_dir()}{hint}; list them with 'sparkctl bench list'")
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return Run(data.get("id") or path.stem, data, rows_of(data.get("result")))
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchDataError(f"{path}: malformed stored run ({exc}); fix or remove the file") from None


def _close_ids(run_id: str) -> str:
    matches = [i for i in list_ids() if run_id in i]
    return f" (did you mean {', '.join(matches[:3])}?)" if matches else ""


def list_ids() -> list[str]:
    """Every stored run id, oldest first."""
    directory = bench_dir()
    return sorted(p.stem for p in directory.glob("*.json")) if directory.is_dir() else []


def list_runs() -> tuple[list[Run], list[str]]:
    """Every stored run, and a problem line for each file that cannot be read."""
    runs, problems = [], []
    for run_id in list_ids():
        try:
            runs.append(load(run_id))
        except BenchDataError as exc:
            problems.append(str(exc))
    return runs, problems
