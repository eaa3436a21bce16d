"""The plan: ordered phases of per-node steps, pure data that can be printed or executed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PhaseKind(StrEnum):
    """How the executor runs a phase."""

    SCRIPT = "script"
    GATE = "gate"
    READINESS = "readiness"
    TRANSFER = "transfer"


@dataclass(frozen=True)
class Gate:
    """Poll a probe until Ray reports every expected node alive with enough GPUs."""

    expected_ips: tuple[str, ...]
    min_gpus: int
    deadline: float
    interval: float = 1.0


@dataclass(frozen=True)
class Readiness:
    """Wait until the server answers: containers running (this node and `watch`), /health, /v1/models, one token."""

    base_url: str
    served_name: str
    container: str
    deadline: float
    interval: float = 1.0
    watch: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One script for one node; secrets are env names exported on stdin, never shown.

    In a gate or readiness phase the script is a probe, polled until the spec is met.
    """

    node: str
    description: str
    script: str
    timeout: float
    secrets: tuple[str, ...] = ()
    gate: Gate | None = None
    readiness: Readiness | None = None


@dataclass(frozen=True)
class Phase:
    """Steps that run in parallel across nodes; phases run in order."""

    name: str
    title: str
    steps: tuple[Step, ...]
    kind: PhaseKind = PhaseKind.SCRIPT
    agree_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Deployment:
    """Identity of what `up` deploys: the same identity means nothing to do."""

    id: str
    recipe: str
    recipe_hash: str
    topology: str
    nodes: tuple[str, ...]
    endpoint: str
    served_name: str


@dataclass(frozen=True)
class Plan:
    """What sparkctl will do, in order."""

    action: str
    phases: tuple[Phase, ...]
    deployment: Deployment | None = None
