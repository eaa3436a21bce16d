"""Placement of a stack's deployments on the inventory's nodes: memory that fits, ports that never collide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.config.inventory import Inventory, Node
from orchestrator.errors import ConfigError, TopologyError
from orchestrator.plan.argv import memory_share
from orchestrator.plan.planner import api_port, backend_of
from orchestrator.plan.topology import Layout, Role, Topology, assign

if TYPE_CHECKING:
    from orchestrator.config.recipe import Recipe

PORT_SEARCH = 1000


class PlacementError(TopologyError):
    """The stack does not fit the nodes: memory over a node's budget, or two fixed ports on one node."""


@dataclass(frozen=True)
class Want:
    """One deployment as the stack asks for it."""

    name: str
    recipe: Recipe
    topology: Topology
    nodes: tuple[str, ...] | None = None
    port: int | None = None
    backend: str | None = None


@dataclass(frozen=True)
class Placed:
    """One deployment placed: its nodes, its recipe with its API port, an inventory with its Ray/rank ports."""

    want: Want
    layout: Layout
    recipe: Recipe
    inventory: Inventory
    share: float
    backend: str


def place(inventory: Inventory, wants: list[Want], reserved: tuple[tuple[str, int, str], ...] = ()) -> list[Placed]:
    """Every deployment on nodes where it fits and with its own ports, in the order given; else PlacementError.

    reserved: (node, port, owner) taken before any deployment's, e.g. the stack proxy's port.
    """
    loads: dict[str, list[tuple[str, float]]] = {n.name: [] for n in inventory.nodes}
    layouts: dict[str, Layout] = {}
    for want in sorted(wants, key=lambda w: w.nodes is None):  # pinned first: they have no choice
        layouts[want.name] = _layout(inventory, want, loads)
        for node in layouts[want.name].nodes:
            loads[node.name].append((want.name, memory_share(want.recipe)))
    ports = _Ports(inventory, wants, layouts, reserved)
    placed = [ports.placed(want) for want in wants]
    _one_ray_per_node(placed)
    return placed


def _one_ray_per_node(placed: list[Placed]) -> None:
    """Two Ray clusters on one node would need every Ray port set apart (client, agents, object manager): refused."""
    seen: dict[str, str] = {}
    for item in (p for p in placed if p.backend == "ray"):
        for node in item.layout.nodes:
            if node.name in seen:
                raise PlacementError(f"node {node.name} would run two Ray clusters ('{seen[node.name]}' and "
                                     f"'{item.want.name}'); pin them to different nodes, or give one backend: mp")
            seen[node.name] = item.want.name


def _layout(inventory: Inventory, want: Want, loads: dict[str, list[tuple[str, float]]]) -> Layout:
    try:
        layout = assign(want.topology, want.recipe, inventory, list(want.nodes) if want.nodes else None)
    except ConfigError as exc:  # a node the inventory lacks, or a recipe that does not fit its topology
        raise TopologyError(f"deployment '{want.name}': {exc}") from None
    if want.nodes is None and want.topology is not Topology.REPLICAS:
        layout = assign(want.topology, want.recipe, inventory, _least_loaded(inventory, want, loads, len(layout.nodes)))
    for node in layout.nodes:
        _check_fits(inventory, node, want, loads[node.name])
    return layout


def _least_loaded(inventory: Inventory, want: Want, loads: dict[str, list[tuple[str, float]]], count: int) -> list[str]:
    """The count least loaded nodes that still fit the deployment, in inventory order (the first is the head)."""
    share = memory_share(want.recipe)
    used = {name: sum(s for _, s in placed) for name, placed in loads.items()}
    order = {n.name: i for i, n in enumerate(inventory.nodes)}
    fits = [n.name for n in inventory.nodes
            if not loads[n.name] or used[n.name] + share <= inventory.memory_budget_of(n) + 1e-9]
    if len(fits) < count:
        listed = ", ".join(f"{n.name} {used[n.name]:.2f} of {inventory.memory_budget_of(n):.2f} used"
                           for n in inventory.nodes)
        raise PlacementError(f"deployment '{want.name}' needs {count} node(s) with {share:.2f} of memory free "
                             f"(its gpu-memory-utilization) but only {len(fits)} have it: {listed}; lower memory: on "
                             "some entries, remove one, or raise memory_budget in the inventory")
    chosen = sorted(fits, key=lambda name: (used[name], order[name]))[:count]
    return sorted(chosen, key=order.__getitem__)


def _check_fits(inventory: Inventory, node: Node, want: Want, placed: list[tuple[str, float]]) -> None:
    share, budget = memory_share(want.recipe), inventory.memory_budget_of(node)
    together = [*placed, (want.name, share)]
    total = sum(s for _, s in together)
    # Alone on a node a recipe keeps its own share, as `up` runs it (the rules lint it); the budget is for sharing.
    if len(together) > 1 and total > budget + 1e-9:
        terms = " + ".join(f"{s:.2f} ({name})" for name, s in together)
        raise PlacementError(f"node {node.name} cannot hold '{want.name}': the gpu-memory-utilization of its "
                             f"deployments adds up to {terms} = {total:.2f}, over its memory budget of {budget:.2f}; "
                             "lower memory: on an entry, place one elsewhere (nodes:), or raise memory_budget in the "
                             "inventory")


class _Ports:
    """Each deployment's API port (fixed ones first), and its Ray or rank port when it is a cluster."""

    def __init__(self, inventory: Inventory, wants: list[Want], layouts: dict[str, Layout],
                 reserved: tuple[tuple[str, int, str], ...] = ()):
        self.inventory, self.layouts = inventory, layouts
        self.taken: dict[str, dict[int, str]] = {n.name: {} for n in inventory.nodes}
        self.api: dict[str, int] = {}
        for node_name, port, owner in reserved:
            self._take(inventory.node(node_name), port, owner)
        for want in wants:
            if want.topology is Topology.REPLICAS:
                self._take(layouts[want.name].entry, inventory.defaults.proxy_port, f"{want.name} (its proxy)")
        for want in wants:
            fixed = want.port or want.recipe.api_port
            if fixed:
                self.api[want.name] = fixed
                for node in self._serving(want):
                    self._take(node, fixed, want.name)
        for want in wants:
            if want.name not in self.api:
                self.api[want.name] = self._free(self._serving(want), inventory.defaults.api_port, want.name)

    def placed(self, want: Want) -> Placed:
        """The deployment with its ports written into its recipe and its inventory."""
        layout = self.layouts[want.name]
        backend = backend_of(want.recipe, layout, want.backend)
        recipe = want.recipe
        if self.api[want.name] != api_port(recipe, self.inventory):
            recipe = recipe.model_copy(update={"api_port": self.api[want.name]})
        defaults = self.inventory.defaults
        if backend == "ray":
            defaults = defaults.model_copy(update={"ray_port": self._free((layout.entry,), defaults.ray_port, want.name)})
        elif backend == "mp":
            port = self._free((layout.entry,), defaults.master_port, want.name)
            defaults = defaults.model_copy(update={"master_port": port})
        inventory = self.inventory.model_copy(update={"defaults": defaults})
        return Placed(want, layout, recipe, inventory, memory_share(recipe), backend)

    def _serving(self, want: Want) -> tuple[Node, ...]:
        layout = self.layouts[want.name]
        return tuple(a.node for a in layout.assignments if a.role is not Role.WORKER)

    def _take(self, node: Node, port: int, owner: str) -> None:
        holder = self.taken[node.name].get(port)
        if holder is not None:
            raise PlacementError(f"port {port} on {node.name} is asked for by both '{holder}' and '{owner}'; "
                                 "give one of them another port: (or leave port: out to have one assigned)")
        self.taken[node.name][port] = owner

    def _free(self, nodes: tuple[Node, ...], start: int, owner: str) -> int:
        for port in range(start, min(start + PORT_SEARCH, 65536)):
            if all(port not in self.taken[n.name] for n in nodes):
                for node in nodes:
                    self._take(node, port, owner)
                return port
        raise PlacementError(f"no free port from {start} for '{owner}' on {', '.join(n.name for n in nodes)}")
