"""Topologies: which inventory nodes play which role for a recipe."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from orchestrator.config.inventory import Inventory, Node
from orchestrator.errors import TopologyError

if TYPE_CHECKING:
    from orchestrator.config.recipe import Recipe


class Topology(StrEnum):
    """How a recipe is spread over Sparks."""

    SOLO = "solo"
    CLUSTER = "cluster"
    REPLICAS = "replicas"


class Role(StrEnum):
    """What a node does in a deployment."""

    SOLO = "solo"
    HEAD = "head"
    WORKER = "worker"
    REPLICA = "replica"


@dataclass(frozen=True)
class Assignment:
    """A node and its role."""

    node: Node
    role: Role


@dataclass(frozen=True)
class Layout:
    """The nodes of a deployment with their roles; the first is the entry point."""

    topology: Topology
    assignments: tuple[Assignment, ...]

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The nodes in role order."""
        return tuple(a.node for a in self.assignments)

    @property
    def entry(self) -> Node:
        """The node clients talk to (head, solo, or the proxy's replica)."""
        return self.assignments[0].node


def assign(topology: Topology, recipe: Recipe, inventory: Inventory, chosen: list[str] | None) -> Layout:
    """Assign roles, refusing any mismatch between recipe, topology and nodes."""
    nodes = _select(topology, recipe, inventory, chosen)
    if topology is Topology.SOLO:
        roles = [Role.SOLO]
    elif topology is Topology.CLUSTER:
        roles = [Role.HEAD] + [Role.WORKER] * (len(nodes) - 1)
    else:
        roles = [Role.REPLICA] * len(nodes)
    return Layout(topology, tuple(Assignment(n, r) for n, r in zip(nodes, roles, strict=True)))


def _select(topology: Topology, recipe: Recipe, inventory: Inventory, chosen: list[str] | None) -> list[Node]:
    gpus = recipe.gpus
    if topology.value not in recipe.topologies:
        raise TopologyError(f"recipe '{recipe.name}' ({recipe.source}) runs only as {' or '.join(recipe.topologies)}, "
                            f"not {topology.value} (its topologies: key, e.g. eugr's solo_only/cluster_only)")
    if topology is not Topology.CLUSTER and gpus > 1:
        raise TopologyError(
            f"recipe '{recipe.name}' needs {gpus} Sparks (TP {recipe.tensor_parallel} x PP "
            f"{recipe.pipeline_parallel}); run it with 'sparkctl up cluster {recipe.name}'"
        )
    if topology is Topology.CLUSTER and gpus < 2:
        raise TopologyError(
            f"recipe '{recipe.name}' runs on one Spark (TP x PP = 1); use 'up solo' or 'up replicas', "
            "or a recipe with tensor-parallel-size >= 2"
        )
    wanted = {Topology.SOLO: 1, Topology.CLUSTER: gpus, Topology.REPLICAS: None}[topology]
    nodes = [inventory.node(n) for n in chosen] if chosen else list(inventory.nodes)
    if chosen and len(set(chosen)) != len(chosen):
        raise TopologyError(f"--nodes names a node twice: {','.join(chosen)}")
    if wanted is None:
        return _enough(nodes, 1, topology, recipe, inventory)
    if chosen and len(nodes) != wanted:
        raise TopologyError(
            f"--nodes lists {len(nodes)} node(s) but {topology.value} '{recipe.name}' needs exactly {wanted}"
        )
    return _enough(nodes, wanted, topology, recipe, inventory)[:wanted]


def _enough(nodes: list[Node], wanted: int, topology: Topology, recipe: Recipe, inventory: Inventory) -> list[Node]:
    if len(nodes) < wanted:
        raise TopologyError(
            f"{topology.value} '{recipe.name}' needs {wanted} Sparks but {inventory.source} has "
            f"{len(nodes)}; add nodes or pick a smaller recipe"
        )
    return nodes
