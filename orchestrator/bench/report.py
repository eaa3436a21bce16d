"""Reports on stored runs: list, show, compare side by side (ratios to the first run), plot."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from orchestrator.bench.store import Run
from orchestrator.config.catalog import recipe_diff
from orchestrator.config.recipe import Recipe
from orchestrator.errors import ConfigError
from orchestrator.report import console
from orchestrator.report.tables import Column, Fit

RATIOS = ("pp_tps", "tg_tps", "ttfr_ms", "e2e_ttft_ms")
RUN_COLUMNS = ["run", Column("topology", Fit.WIDE)]
TEST_COLUMNS = ["pp", "tg", "depth", "pp tok/s", "tg tok/s", "TTFR ms", "e2e TTFT ms"]
LIST_FITS = {"id": Fit.LEGEND, "timestamp": Fit.WIDE, "recipe": Fit.WIDE, "hash": Fit.WIDE, "nodes": Fit.WIDE}


def summary(run: Run) -> dict[str, Any]:
    """One line about a run."""
    best_tg = max((r.tg_tps for r in run.rows if r.tg_tps is not None), default=None)
    return {"id": run.id, "status": run.status, "timestamp": run.get("timestamp"),
            "recipe": run.get("deployment", "recipe"), "hash": (run.get("deployment", "recipe_hash") or "")[:12],
            "topology": run.get("deployment", "topology"), "nodes": ",".join(run.get("deployment", "nodes") or []),
            "tests": len(run.rows), "best tg tok/s": _num(best_tg)}


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_list(runs: list[Run], problems: list[str], as_json: bool) -> None:
    """Every stored run, one line each."""
    rows = [summary(run) for run in runs]
    if as_json:
        console.emit_json({"runs": rows, "problems": problems})
        return
    for problem in problems:
        console.warn(f"warning: {problem}")
    if not rows:
        console.info("no stored benchmark runs; run 'sparkctl bench' against a deployment")
        return
    columns = [Column(key, LIST_FITS.get(key, Fit.KEEP)) for key in rows[0]]
    console.table("benchmark runs", columns, [list(r.values()) for r in rows])


def print_show(run: Run, as_json: bool) -> None:
    """A run's provenance and results."""
    if as_json:
        console.emit_json(run.data)
        return
    info = {**summary(run), "endpoint": run.get("deployment", "endpoint"),
            "llama-benchy": f"{run.get('tool', 'version')} {' '.join(run.get('tool', 'args') or [])}",
            "sparkctl": run.get("sparkctl_version"),
            "images": ", ".join(f"{n}: {i.get('image')} {i.get('layers')}" for n, i in (run.get("images") or {}).items())}
    for key, value in info.items():
        console.info(f"{key}: {value}")
    for problem in run.get("problems") or []:
        console.warn(f"warning: {problem}")
    compare_tables([run])


def _ratio(value: float | None, ratio: float | None) -> str:
    if value is None:
        return "-"
    shown = _num(value, 0 if value >= 100 else 1)  # tenths of 100+ tokens/s or ms are noise, and cost width
    return shown if ratio is None else f"{shown} ({ratio:.2f}x)"


def comparison(runs: list[Run]) -> dict[int, list[dict[str, Any]]]:
    """Per concurrency, one entry per run and test shape, with ratios to the first run's same test."""
    first = {r.shape: r for r in runs[0].rows}
    tables: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        for row in run.rows:
            base = first.get(row.shape)
            entry = {"run": run.id, "topology": run.get("deployment", "topology"), **asdict(row)}
            for metric in RATIOS:
                value, reference = getattr(row, metric), getattr(base, metric) if base else None
                entry[f"{metric}_ratio"] = value / reference if value is not None and reference else None
            tables.setdefault(row.concurrency, []).append(entry)
    return dict(sorted(tables.items()))


def compare_tables(runs: list[Run]) -> None:
    """Print one table per concurrency; several runs get a column naming each, by number unless `--wide`."""
    tables = comparison(runs)
    if not tables:
        console.warn("no results to show (the runs hold no completed test)")
    labels = run_labels(runs)
    for concurrency, entries in tables.items():
        rows = [[*([labels[e["run"]], e["topology"]] if labels else []), e["pp"], e["tg"], e["depth"],
                 *(_ratio(e[m], e[f"{m}_ratio"] if labels else None) for m in RATIOS)] for e in entries]
        console.table(f"concurrency {concurrency}", (RUN_COLUMNS if labels else []) + TEST_COLUMNS, rows)


def run_labels(runs: list[Run]) -> dict[str, str]:
    """Run id -> what its rows show: nothing for one run, else [1], [2]... listed once above the tables."""
    if len(runs) < 2:
        return {}
    if console.is_wide():
        return {run.id: run.id for run in runs}
    labels = {run.id: f"[{number}]" for number, run in enumerate(runs, 1)}
    for run in runs:
        console.info(f"{labels[run.id]} {run.id} ({run.get('deployment', 'topology')})")
    return labels


def differences(runs: list[Run]) -> list[str]:
    """What differs between the first run and each other one, besides the topology."""
    notes = []
    base = runs[0]
    for run in runs[1:]:
        notes += [f"{run.id} vs {base.id}: {note}" for note in _pair_differences(base, run)]
    return notes


def _pair_differences(a: Run, b: Run) -> list[str]:
    notes = []
    if a.get("deployment", "recipe_hash") != b.get("deployment", "recipe_hash"):
        notes.append(f"recipe {a.get('deployment', 'recipe')} ({(a.get('deployment', 'recipe_hash') or '')[:12]}) vs "
                     f"{b.get('deployment', 'recipe')} ({(b.get('deployment', 'recipe_hash') or '')[:12]})"
                     + _recipe_keys(a, b))
    images_a = {i.get("layers") for i in (a.get("images") or {}).values()}
    images_b = {i.get("layers") for i in (b.get("images") or {}).values()}
    if images_a != images_b:
        notes.append(f"image layers {sorted(map(str, images_a))} vs {sorted(map(str, images_b))}")
    if a.get("tool", "version") != b.get("tool", "version"):
        notes.append(f"llama-benchy {a.get('tool', 'version')} vs {b.get('tool', 'version')}")
    return notes


def _recipe_keys(a: Run, b: Run) -> str:
    try:
        diff = recipe_diff(Recipe.model_validate(a.get("recipe")), Recipe.model_validate(b.get("recipe")))
    except (ValueError, TypeError):
        return " (resolved recipes not stored; cannot say which keys differ)"
    return ": " + "; ".join(f"{key} {va!r} -> {vb!r}" for key, va, vb in diff) if diff else " (same resolved keys)"


def print_compare(runs: list[Run], plot: str | None, as_json: bool) -> None:
    """The comparison tables, the differences that matter, and the plot."""
    notes = differences(runs)
    notes += [f"{run.id} is {run.status}: its numbers cover only the tests that finished"
              for run in runs if run.status != "complete"]
    if plot:
        write_plot(runs, Path(plot))
    if as_json:
        console.emit_json({"runs": [r.id for r in runs], "warnings": notes, "plot": plot,
                           "tables": {str(c): rows for c, rows in comparison(runs).items()}})
        return
    compare_tables(runs)
    for note in notes:
        console.warn(f"warning: {note}")
    if plot:
        console.info(f"plot: {plot}")


def write_plot(runs: list[Run], path: Path) -> None:
    """tokens/s vs concurrency, prompt and generation side by side, one line per run and test shape."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plot needs matplotlib, which the core install leaves out: "
                          "pip install 'sparkctl[plot]' (installed with pipx: pipx inject sparkctl matplotlib)") from None
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for axis, metric, title in ((axes[0], "pp_tps", "prompt processing"), (axes[1], "tg_tps", "token generation")):
        for run in runs:
            for shape, points in _series(run, metric).items():
                xs, ys = zip(*points, strict=True)
                axis.plot(xs, ys, marker="o", label=f"{run.id} pp{shape[0]} tg{shape[1]} d{shape[2]}")
        axis.set(title=title, xlabel="concurrency", ylabel="tokens/s")
        axis.set_xticks(sorted({row.concurrency for run in runs for row in run.rows}))
        axis.grid(True, alpha=0.3)
    axes[1].legend(fontsize="x-small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _series(run: Run, metric: str) -> dict[tuple[int, int, int], list[tuple[int, float]]]:
    series: dict[tuple[int, int, int], list[tuple[int, float]]] = {}
    for row in run.rows:
        value = getattr(row, metric)
        if value is not None:
            series.setdefault((row.pp, row.tg, row.depth), []).append((row.concurrency, value))
    return series
