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
    """One long-running watcher on the head, printing `members=` on each change until every expected member
    (Ray node, or vLLM rank connected to the master port) is there with enough GPUs, or the deadline passes."""

    expected_ips: tuple[str, ...]
    min_gpus: int
    deadline: float
    members: str = "Ray nodes"


@dataclass(frozen=True)
class Readiness:
    """Poll the step's probe on its node (against 127.0.0.1) until the server answers one token.

    The containers on `watch` nodes (a cluster's workers) must keep running meanwhile; `watch_script` checks one.
    """

    local_url: str
    served_name: str
    container: str
    deadline: float
    # A probe is one SSH channel and a few local curls: polling twice a second costs little and answers sooner.
    interval: float = 0.5
    watch: tuple[str, ...] = ()
    watch_script: str = ""


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
    # A tolerant phase reports a node that fails (or cannot be reached) instead of failing the run.
    tolerant: bool = False


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
    backend: str = ""
    # Set for a stack's deployment: its name in the stack, and the stack's name.
    name: str = ""
    stack: str = ""


@dataclass(frozen=True)
class Plan:
    """What sparkctl will do, in order."""

    action: str
    phases: tuple[Phase, ...]
    deployment: Deployment | None = None
