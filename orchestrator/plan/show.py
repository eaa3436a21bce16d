"""A plan as text (every node's exact commands) or as JSON-able data, secrets by name only."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from orchestrator.plan.data import PhaseKind, Plan
from orchestrator.plan.transfer import shown


def plan_to_dict(plan: Plan, secrets: list[str]) -> dict[str, Any]:
    """A plan as JSON-able data; secrets appear by name only."""
    data = asdict(plan)
    if plan.deployment and not plan.deployment.name:
        for key in ("name", "stack"):  # only a stack's deployments have them
            data["deployment"].pop(key)
    data["secrets"] = {name: "***" for name in secrets}
    return data


def plan_text(plan: Plan, secrets: list[str]) -> str:
    """Every phase and every node's exact commands, each command whole on one line."""
    lines = []
    if plan.deployment:
        d = plan.deployment
        lines.append(f"# deployment {d.id}: recipe {d.recipe} ({d.recipe_hash[:12]}), {d.topology} on "
                     f"{', '.join(d.nodes)}; endpoint {d.endpoint}")
    if secrets:
        lines.append(f"# secrets exported on stdin, never in argv: {', '.join(f'{s}=***' for s in secrets)}")
    for number, phase in enumerate(plan.phases, 1):
        lines.append(f"\n## {number}. {phase.title}" + _phase_note(phase))
        for step in phase.steps:
            lines += shown(step)
    return "\n".join(lines)


def _phase_note(phase) -> str:
    if phase.kind is PhaseKind.GATE:
        gate = phase.steps[0].gate
        return (f" - one watcher until {gate.members} {', '.join(gate.expected_ips)} are in with "
                f">= {gate.min_gpus} GPUs (deadline {gate.deadline:g}s)")
    if phase.kind is PhaseKind.READINESS:
        ready = phase.steps[0].readiness
        return (f" - poll every {ready.interval:g}s on the node: container running, GET {ready.local_url}/health, "
                f"/v1/models lists '{ready.served_name}', one-token completion (deadline {ready.deadline:g}s)")
    if phase.kind is PhaseKind.TRANSFER:
        return " - node to node; a transfer fails when either end goes quiet for a few seconds"
    if phase.agree_on:
        return f" - every node must agree on: {', '.join(phase.agree_on)}"
    return ""
