"""The only module that prints: plans, tables, findings and JSON."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from orchestrator.plan import PhaseKind, Plan

if TYPE_CHECKING:
    from orchestrator.rules import Finding


def emit_json(data: Any) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(data, indent=2, default=str))


def plan_to_dict(plan: Plan, secrets: list[str]) -> dict[str, Any]:
    """A plan as JSON-able data; secrets appear by name only."""
    data = asdict(plan)
    data["secrets"] = {name: "***" for name in secrets}
    return data


def print_plan(plan: Plan, secrets: list[str], as_json: bool) -> None:
    """Every phase and every node's exact commands, each command whole on one line."""
    if as_json:
        emit_json(plan_to_dict(plan, secrets))
        return
    if plan.deployment:
        d = plan.deployment
        click.echo(f"# deployment {d.id}: recipe {d.recipe} ({d.recipe_hash[:12]}), {d.topology} on "
                   f"{', '.join(d.nodes)}; endpoint {d.endpoint}")
    if secrets:
        click.echo(f"# secrets exported on stdin, never in argv: {', '.join(f'{s}=***' for s in secrets)}")
    for number, phase in enumerate(plan.phases, 1):
        click.echo(f"\n## {number}. {phase.title}" + _phase_note(phase))
        for step in phase.steps:
            click.echo(f"# [{step.node}] {step.description} (timeout {step.timeout:g}s)")
            click.echo(step.script.rstrip("\n"))


def _phase_note(phase) -> str:
    if phase.kind is PhaseKind.GATE:
        gate = phase.steps[0].gate
        return (f" - poll every {gate.interval:g}s until Ray lists {', '.join(gate.expected_ips)} alive and "
                f">= {gate.min_gpus} GPUs (deadline {gate.deadline:g}s)")
    if phase.kind is PhaseKind.READINESS:
        ready = phase.steps[0].readiness
        return (f" - poll every {ready.interval:g}s: container running, GET {ready.base_url}/health, "
                f"/v1/models lists '{ready.served_name}', one-token completion (deadline {ready.deadline:g}s)")
    if phase.agree_on:
        return f" - every node must agree on: {', '.join(phase.agree_on)}"
    return ""


def print_findings(findings: list[Finding], as_json: bool) -> None:
    """Lint findings, one per line."""
    if as_json:
        emit_json([asdict(f) for f in findings])
        return
    for f in findings:
        click.echo(f"{f.recipe}: {f.severity.value}: {f.rule}: {f.message}")
    if not findings:
        click.echo("no problems found")


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    grid = Table(title=title, title_justify="left")
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(width=None if isatty() else 200).print(grid)


def info(message: str) -> None:
    """A plain line on stdout."""
    click.echo(message)


def warn(message: str) -> None:
    """A line on stderr."""
    click.echo(message, err=True)


def isatty() -> bool:
    """Whether stdout is an interactive terminal."""
    return sys.stdout.isatty()
