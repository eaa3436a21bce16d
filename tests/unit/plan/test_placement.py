"""Placement: deployments sharing a node fit its memory budget, ports never collide, pinned nodes are honoured."""

from __future__ import annotations

import pytest

from orchestrator.config.inventory import Inventory
from orchestrator.config.recipe import with_overrides
from orchestrator.errors import TopologyError
from orchestrator.plan.placement import PlacementError, Want, memory_share, place
from orchestrator.plan.topology import Topology

THREE = {"nodes": [{"name": f"s{i}", "ip": f"192.0.2.{i}"} for i in (1, 2, 3)]}


def _inventory(**defaults) -> Inventory:
    return Inventory.model_validate({**THREE, "defaults": defaults})


def _want(book, name, recipe, topology="solo", nodes=None, memory=None, port=None, backend=None) -> Want:
    resolved = book.resolve(recipe)
    if memory is not None:
        resolved = with_overrides(resolved, {"gpu-memory-utilization": memory}, {})
    return Want(name, resolved, Topology(topology), tuple(nodes) if nodes else None, port, backend)


def test_cluster_plus_two_solos_share_the_third_node(builtin_book):
    wants = [_want(builtin_book, "coder", "openai-gpt-oss-120b-cluster", "cluster"),
             _want(builtin_book, "small", "gpt-oss-20b", memory=0.4),
             _want(builtin_book, "nano", "nemotron-3-nano-nvfp4", memory=0.4)]
    placed = {p.want.name: p for p in place(_inventory(), wants)}
    assert [n.name for n in placed["coder"].layout.nodes] == ["s1", "s2"]
    assert [n.name for n in placed["small"].layout.nodes] == ["s3"]
    assert [n.name for n in placed["nano"].layout.nodes] == ["s3"]
    assert placed["small"].recipe.api_port is None  # the default port: the recipe (and its hash) stay as they are
    assert placed["nano"].recipe.api_port == 8001
    assert placed["coder"].inventory.defaults.ray_port == 6379


def test_memory_over_a_nodes_budget_names_the_node_and_the_numbers(builtin_book):
    wants = [_want(builtin_book, "a", "gpt-oss-20b", nodes=["s3"]),
             _want(builtin_book, "b", "nemotron-3-nano-nvfp4", nodes=["s3"], memory=0.4)]
    with pytest.raises(PlacementError) as caught:
        place(_inventory(), wants)
    message = str(caught.value)
    assert "node s3 cannot hold 'b'" in message
    assert "0.50 (a) + 0.40 (b) = 0.90, over its memory budget of 0.85" in message


def test_the_budget_comes_from_the_node_then_the_inventory(builtin_book):
    wants = [_want(builtin_book, "a", "gpt-oss-20b", nodes=["s3"]),
             _want(builtin_book, "b", "nemotron-3-nano-nvfp4", nodes=["s3"], memory=0.4)]
    assert len(place(_inventory(memory_budget=0.95), wants)) == 2
    inventory = Inventory.model_validate({"nodes": [*THREE["nodes"][:2], {**THREE["nodes"][2], "memory_budget": 0.9}]})
    assert len(place(inventory, wants)) == 2


def test_unpinned_deployments_go_to_the_least_loaded_node_that_fits(builtin_book):
    wants = [_want(builtin_book, "big", "openai-gpt-oss-120b", nodes=["s1"], memory=0.8),
             _want(builtin_book, "x", "gpt-oss-20b", memory=0.3),
             _want(builtin_book, "y", "gpt-oss-20b", memory=0.3),
             _want(builtin_book, "z", "gpt-oss-20b", memory=0.3)]
    placed = {p.want.name: [n.name for n in p.layout.nodes] for p in place(_inventory(), wants)}
    assert placed == {"big": ["s1"], "x": ["s2"], "y": ["s3"], "z": ["s2"]}


def test_a_deployment_alone_on_a_node_keeps_its_recipes_share(builtin_book):
    placed = place(_inventory(), [_want(builtin_book, "big", "openai-gpt-oss-120b", nodes=["s1"])])
    assert placed[0].share == 0.90


def test_no_node_with_room_lists_every_nodes_load(builtin_book):
    wants = [_want(builtin_book, f"m{i}", "openai-gpt-oss-120b", memory=0.8) for i in range(4)]
    with pytest.raises(PlacementError) as caught:
        place(_inventory(), wants)
    assert "deployment 'm3' needs 1 node(s) with 0.80 of memory free" in str(caught.value)
    assert "s1 0.80 of 0.85 used" in str(caught.value)


def test_two_fixed_ports_on_one_node_are_refused(builtin_book):
    wants = [_want(builtin_book, "a", "gpt-oss-20b", nodes=["s3"], memory=0.3, port=9000),
             _want(builtin_book, "b", "nemotron-3-nano-nvfp4", nodes=["s3"], memory=0.3, port=9000)]
    with pytest.raises(PlacementError) as caught:
        place(_inventory(), wants)
    assert "port 9000 on s3 is asked for by both 'a' and 'b'" in str(caught.value)


def test_fixed_ports_on_different_nodes_may_be_equal_and_assigned_ones_avoid_fixed(builtin_book):
    wants = [_want(builtin_book, "a", "gpt-oss-20b", nodes=["s2"], memory=0.3, port=8000),
             _want(builtin_book, "b", "gpt-oss-20b", nodes=["s3"], memory=0.3, port=8000),
             _want(builtin_book, "c", "gpt-oss-20b", nodes=["s3"], memory=0.3)]
    ports = {p.want.name: p.recipe.api_port or 8000 for p in place(_inventory(), wants)}
    assert ports == {"a": 8000, "b": 8000, "c": 8001}


def test_clusters_sharing_a_node_get_their_own_rank_ports_and_ray_is_one_per_node(builtin_book):
    wants = [_want(builtin_book, "a", "openai-gpt-oss-120b-cluster", "cluster", nodes=["s1", "s2"], memory=0.4,
                   backend="mp"),
             _want(builtin_book, "b", "openai-gpt-oss-120b-cluster", "cluster", nodes=["s1", "s3"], memory=0.4,
                   backend="mp")]
    placed = place(_inventory(), wants)
    assert [p.inventory.defaults.master_port for p in placed] == [29501, 29502]
    assert [p.recipe.api_port or 8000 for p in placed] == [8000, 8001]
    rays = [w.__class__(**{**w.__dict__, "backend": "ray"}) for w in wants]
    with pytest.raises(PlacementError, match="node s1 would run two Ray clusters"):
        place(_inventory(), rays)


def test_topology_mismatches_name_the_deployment(builtin_book):
    with pytest.raises(TopologyError, match="deployment 'c': .* needs 2 Sparks|deployment 'c': --nodes lists 1"):
        place(_inventory(), [_want(builtin_book, "c", "openai-gpt-oss-120b-cluster", "cluster", nodes=["s1"])])


def test_an_unset_share_counts_as_vllms_default(builtin_book):
    recipe = with_overrides(builtin_book.resolve("gpt-oss-20b"), {"gpu-memory-utilization": None}, {})
    assert memory_share(recipe) == 0.92


def test_replicas_take_every_node_and_their_proxy_port_is_reserved(builtin_book):
    wants = [_want(builtin_book, "r", "gpt-oss-20b", "replicas", memory=0.3),
             _want(builtin_book, "s", "gpt-oss-20b", nodes=["s1"], memory=0.3, port=4000)]
    with pytest.raises(PlacementError, match="port 4000 on s1 is asked for by both 'r \\(its proxy\\)' and 's'"):
        place(_inventory(), wants)
    placed = place(_inventory(), wants[:1], reserved=(("s2", 8000, "the stack's proxy"),))
    assert [n.name for n in placed[0].layout.nodes] == ["s1", "s2", "s3"]
    assert placed[0].recipe.api_port == 8001  # 8000 is taken on s2, and replicas serve on every node
