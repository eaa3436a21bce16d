"""`guard` and `watchdog`: install, remove and show sparkctl's node-side jobs, run by systemd or cron on each node."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.config.inventory import Inventory, Node
from orchestrator.config.settings import Settings, select_nodes
from orchestrator.errors import SparkctlError
from orchestrator.ops.partial import raise_if_partial
from orchestrator.plan import jobs
from orchestrator.plan.data import Plan
from orchestrator.plan.show import plan_text, plan_to_dict
from orchestrator.remote.session import Session, session
from orchestrator.report import console
from orchestrator.report.jobs_table import job_rows
from orchestrator.report.tables import Column, Fit

if TYPE_CHECKING:  # the models are built only where guard and watchdog settings are read
    from orchestrator.config.jobspec import Guard, Watchdog

# Settings and the last action are sentences: they wrap rather than get cut.
JOB_FITS = {"settings": Fit.TEXT, "last action": Fit.TEXT}


def guard_on(settings: Settings, guard: Guard, nodes: str | None, dry_run: bool = False) -> None:
    """Install (or update) the page-cache guard on the chosen nodes (default: all) and verify it ran once."""
    _on(settings, nodes, jobs.GUARD, jobs.guard_conf(guard), dry_run)


def watchdog_on(settings: Settings, watchdog: Watchdog, nodes: str | None, dry_run: bool = False) -> None:
    """Install (or update) the stall watchdog on the chosen nodes (default: all) and verify it ran once."""
    _on(settings, nodes, jobs.WATCHDOG, jobs.watchdog_conf(watchdog), dry_run)


def show_plan(settings: Settings, plan: Plan) -> None:
    """Print what would run on each node; connect to nothing."""
    if settings.json:
        console.emit_json(plan_to_dict(plan, []))
    else:
        console.info(plan_text(plan, []))


def job_off(settings: Settings, job: str, nodes: str | None) -> None:
    """Remove a job from the chosen nodes (default: all); the last job takes the scheduler entry along."""
    inventory = settings.load_inventory()
    targets = _targets(inventory, nodes)
    with session(settings, inventory) as current:
        report = current.run(jobs.plan_job_off(targets, job, settings.templates_dir))
    facts, failed = report.facts(f"{job}-off"), report.failed(f"{job}-off")
    if settings.json:
        console.emit_json({**facts, **{node: {"error": why} for node, why in failed.items()}})
    else:
        for node in facts:
            console.info(f"{node}: {job} removed" + ("" if facts[node].get("left") == "none" else " (other jobs stay)"))
    raise_if_partial(f"{job} off", failed, f"run 'sparkctl {job} off' again once they answer")


def install(current: Session, targets: tuple[Node, ...], guard: Guard) -> dict[str, dict[str, str]]:
    """Install the guard from within another command's session (`up` with a recipe's guard section)."""
    return apply(current, targets, jobs.GUARD, jobs.guard_conf(guard), current.settings.templates_dir)


def read_jobs(current: Session, targets: tuple[Node, ...]) -> dict[str, dict[str, str]]:
    """Per node, what its jobs report (nodes without jobs report only the time)."""
    report = current.run(jobs.plan_jobs_status(targets, current.settings.templates_dir))
    return report.facts("jobs")


def show(settings: Settings, nodes: str | None) -> None:
    """`guard status` / `watchdog status`: the jobs of the chosen nodes."""
    inventory = settings.load_inventory()
    with session(settings, inventory) as current:
        found = read_jobs(current, _targets(inventory, nodes))
    rows = job_rows(found)
    if settings.json:
        console.emit_json(rows)
    elif rows:
        print_jobs(rows)
    else:
        console.info("no sparkctl guard or watchdog on " + ", ".join(found))
    raise_if_partial("jobs", current.unreachable, "their jobs are unknown until they answer")


def print_jobs(rows: list[dict[str, str]]) -> None:
    """The node-side jobs as a table."""
    columns = [Column(key, JOB_FITS.get(key, Fit.KEEP)) for key in rows[0]]
    console.table("node-side jobs", columns, [list(r.values()) for r in rows])


def _on(settings: Settings, nodes: str | None, job: str, conf: str, dry_run: bool) -> None:
    inventory = settings.load_inventory()
    targets = _targets(inventory, nodes)
    if dry_run:
        show_plan(settings, jobs.plan_job_on(targets, job, conf, settings.templates_dir))
        return
    with session(settings, inventory) as current:
        facts = apply(current, targets, job, conf, settings.templates_dir)
        found = read_jobs(current, targets)
    if settings.json:
        console.emit_json(facts)
        return
    for node, fact in facts.items():
        console.info(f"{node}: {job} on ({fact.get('scheduler', '?')}), ran once: {fact.get('last') or 'nothing to do'}")
    print_jobs(job_rows(found))


def apply(current: Session, targets: tuple[Node, ...], job: str, conf: str, templates_dir: str | None) -> dict:
    """Install the job on every target; if one fails, take it off the targets that did not have it before."""
    report = current.run(jobs.plan_jobs_status(targets, templates_dir))
    had = {node for node, fact in report.facts("jobs").items() if f"{job}_conf" in fact}
    try:
        return current.run(jobs.plan_job_on(targets, job, conf, templates_dir)).facts(f"{job}-on")
    except SparkctlError:
        fresh = tuple(n for n in targets if n.name not in had)
        if fresh:
            current.run(jobs.plan_job_off(fresh, job, templates_dir))
        raise


def _targets(inventory: Inventory, nodes: str | None) -> tuple[Node, ...]:
    return select_nodes(inventory, nodes, all_nodes=not nodes)
