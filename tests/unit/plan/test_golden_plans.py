"""Golden plans: every built-in recipe on every topology it allows, plus drop-caches, teardown and status.

Regenerate after an intended change with:  UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/plan/test_golden_plans.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestrator.config.book import RecipeBook
from orchestrator.config.inventory import load_inventory
from orchestrator.config.paths import builtin_dir
from orchestrator.plan import planner
from orchestrator.plan.data import Plan
from orchestrator.plan.show import plan_to_dict
from orchestrator.plan.topology import Topology, assign

GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLE_INVENTORY = Path(__file__).resolve().parents[3] / "inventory.yaml"
UPDATE_HINT = "UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/plan/test_golden_plans.py"


def _builtin_cases() -> list[tuple[str, Topology]]:
    book = RecipeBook([builtin_dir("recipes")])
    cases = []
    for name in book.names():
        gpus = book.resolve(name).gpus
        topologies = [Topology.CLUSTER] if gpus > 1 else [Topology.SOLO, Topology.REPLICAS]
        cases += [(name, topology) for topology in topologies]
    return cases


CASES = _builtin_cases()


def _render(plan: Plan) -> str:
    """The plan's JSON form, each script as a list of lines so golden diffs read line by line."""
    data = plan_to_dict(plan, [])
    for phase in data["phases"]:
        for step in phase["steps"]:
            step["script"] = step["script"].splitlines()
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def _check_golden(name: str, plan: Plan) -> None:
    path = GOLDEN / f"{name}.json"
    actual = _render(plan)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
        return
    assert path.is_file(), f"no golden file {path.name}; create it with: {UPDATE_HINT}"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"plan differs from golden {path.name}; if intended, update with: {UPDATE_HINT}"


def _up_plan(recipe_name: str, topology: Topology) -> Plan:
    inventory = load_inventory(EXAMPLE_INVENTORY)
    recipe = RecipeBook([builtin_dir("recipes")]).resolve(recipe_name)
    return planner.plan_up(inventory, recipe, assign(topology, recipe, inventory, None))


def test_every_builtin_recipe_has_a_case():
    assert {name for name, _ in CASES} == set(RecipeBook([builtin_dir("recipes")]).names())


@pytest.mark.parametrize(("recipe_name", "topology"), CASES, ids=[f"{n}-{t.value}" for n, t in CASES])
def test_up_plan_matches_golden(recipe_name: str, topology: Topology):
    _check_golden(f"up.{recipe_name}.{topology.value}", _up_plan(recipe_name, topology))


def test_drop_caches_plan_matches_golden(inventory):
    _check_golden("drop-caches", planner.plan_drop_caches(inventory, inventory.nodes))


def test_teardown_all_plan_matches_golden(inventory):
    _check_golden("teardown.all", planner.plan_teardown(inventory.nodes))


def test_teardown_one_deployment_plan_matches_golden(inventory):
    plan = planner.plan_teardown(inventory.nodes, "openai-gpt-oss-120b-cluster.cluster.89216f51")
    _check_golden("teardown.deployment", plan)


def test_status_plan_matches_golden(inventory):
    _check_golden("status", planner.plan_status(inventory.nodes))


def test_no_stale_golden_files():
    expected = {f"up.{n}.{t.value}.json" for n, t in CASES}
    expected |= {"drop-caches.json", "teardown.all.json", "teardown.deployment.json", "status.json"}
    stale = sorted(p.name for p in GOLDEN.glob("*.json") if p.name not in expected)
    assert not stale, f"golden files without a test (delete them): {stale}"


def test_plans_are_deterministic():
    first = _render(_up_plan("openai-gpt-oss-120b-cluster", Topology.CLUSTER))
    second = _render(_up_plan("openai-gpt-oss-120b-cluster", Topology.CLUSTER))
    assert first == second


def test_cluster_phases_in_order():
    plan = _up_plan("openai-gpt-oss-120b-cluster", Topology.CLUSTER)
    names = [phase.name for phase in plan.phases]
    assert names == ["preflight", "drop-caches", "ray-head", "ray-workers", "ray-gate", "serve", "readiness",
                     "restart-policy"]


def test_solo_phases_in_order():
    plan = _up_plan("openai-gpt-oss-120b", Topology.SOLO)
    assert [phase.name for phase in plan.phases] == ["preflight", "drop-caches", "serve", "readiness", "restart-policy"]


def test_replicas_serve_on_every_node_and_check_each():
    plan = _up_plan("gpt-oss-20b", Topology.REPLICAS)
    by_name = {phase.name: phase for phase in plan.phases}
    assert [s.node for s in by_name["serve"].steps] == ["GoldFinger", "GoldFinger2"]
    probed = [(s.node, s.readiness.local_url) for s in by_name["readiness"].steps]
    assert probed == [("GoldFinger", "http://127.0.0.1:8000"), ("GoldFinger2", "http://127.0.0.1:8000")]


def test_readiness_is_probed_on_the_node_itself():
    for topology, recipe in ((Topology.SOLO, "gpt-oss-20b"), (Topology.CLUSTER, "openai-gpt-oss-120b-cluster"),
                             (Topology.REPLICAS, "gpt-oss-20b")):
        for phase in _up_plan(recipe, topology).phases:
            for step in phase.steps:
                if step.readiness:
                    assert "curl" in step.script and "http://127.0.0.1:" in step.script
                    assert "192.168." not in step.script, f"{phase.name} on {step.node} asks over the network"


def test_every_script_line_is_one_whole_command():
    for recipe_name, topology in CASES:
        for phase in _up_plan(recipe_name, topology).phases:
            for step in phase.steps:
                for line in step.script.splitlines():
                    assert line.strip(), f"{recipe_name}: blank line in {phase.name}"
                    assert not line.rstrip().endswith("\\"), f"{recipe_name}: continued line in {phase.name}"
