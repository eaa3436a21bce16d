"""Node-side jobs (page-cache guard, watchdog): the scripts that install, remove and read them. No I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.config.inventory import Node
from orchestrator.plan.data import Phase, Plan, Step
from orchestrator.plan.templates import render

if TYPE_CHECKING:  # the models are built only where guard and watchdog settings are read
    from orchestrator.config.jobspec import Guard, Watchdog

GUARD = "guard"
WATCHDOG = "watchdog"
JOBS = (GUARD, WATCHDOG)
UNIT = "sparkctl-jobs"
MARKER = "sparkctl-jobs"
TIMEOUT = 60.0
# Go templates docker reads on the node: the serving labels (role, endpoint, served name), the env, the names.
GO_LABELS = ('{{index .Config.Labels "sparkctl.role"}}\n'
             '{{or (index .Config.Labels "sparkctl.api") (index .Config.Labels "sparkctl.endpoint")}}\n'
             '{{index .Config.Labels "sparkctl.served-name"}}')
GO_ENV = "{{range .Config.Env}}{{println .}}{{end}}"
GO_NAMES = "{{.Names}}"


def guard_conf(guard: Guard) -> str:
    """The guard's settings file: integers only, read by the runner on every pass."""
    return f"every={guard.every_s}\nbelow_kb={guard.below_kib}\ncheck={guard.check_s}"


def watchdog_conf(watchdog: Watchdog) -> str:
    """The watchdog's settings file."""
    return (f"after={watchdog.after}\nbudget={watchdog.budget}\ncheck={watchdog.check_s}\n"
            f"deadline={watchdog.deadline_s}")


def runner_script(templates_dir: str | None) -> str:
    """The script the scheduler runs: one pass of every job, or cron's minute of passes."""
    return render("jobs_runner", templates_dir, go_labels=GO_LABELS, go_env=GO_ENV, go_names=GO_NAMES)


def install_script(templates_dir: str | None, job: str, conf: str) -> str:
    """Install or update one job on a node, run it once, verify the scheduler lists it."""
    return render("jobs_install", templates_dir, job=job, conf=conf, runner=runner_script(templates_dir),
                  unit=UNIT, marker=MARKER)


def remove_script(templates_dir: str | None, job: str) -> str:
    """Remove one job; the last one takes the scheduler entry and every file with it."""
    return render("jobs_remove", templates_dir, job=job, unit=UNIT, marker=MARKER)


def status_script(templates_dir: str | None) -> str:
    """Read the jobs' state on a node."""
    return render("jobs_status", templates_dir, unit=UNIT, marker=MARKER)


def plan_job_on(nodes: tuple[Node, ...], job: str, conf: str, templates_dir: str | None = None) -> Plan:
    """Install `job` on every node."""
    script = install_script(templates_dir, job, conf)
    steps = tuple(Step(n.name, f"install the {job}", script, TIMEOUT) for n in nodes)
    return Plan(action=f"{job}-on", phases=(Phase(f"{job}-on", f"Install {job}", steps),))


def plan_job_off(nodes: tuple[Node, ...], job: str, templates_dir: str | None = None, tolerant: bool = True) -> Plan:
    """Remove `job` from every node."""
    script = remove_script(templates_dir, job)
    steps = tuple(Step(n.name, f"remove the {job}", script, TIMEOUT) for n in nodes)
    return Plan(action=f"{job}-off", phases=(Phase(f"{job}-off", f"Remove {job}", steps, tolerant=tolerant),))


def plan_jobs_status(nodes: tuple[Node, ...], templates_dir: str | None = None) -> Plan:
    """Read the jobs of every node."""
    script = status_script(templates_dir)
    steps = tuple(Step(n.name, "read node-side jobs", script, 30) for n in nodes)
    return Plan(action="jobs", phases=(Phase("jobs", "Node-side jobs", steps, tolerant=True),))
