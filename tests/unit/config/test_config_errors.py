"""Bad inventories, recipes and topologies: one clear ConfigError naming file, line and key."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from orchestrator.config.book import RecipeBook
from orchestrator.config.inventory import load_inventory
from orchestrator.errors import ConfigError, TopologyError
from orchestrator.plan import planner
from orchestrator.plan.topology import Role, Topology, assign

TWO_NODES = "nodes:\n  - name: a\n    ip: 192.0.2.1\n  - name: b\n    ip: 192.0.2.2\n"


def _inventory_error(write, text: str) -> tuple[str, str]:
    path = write("inv.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    return str(caught.value), str(path)


def _recipe_error(write, tmp_path, text: str, name: str = "bad") -> tuple[str, str]:
    path = write(f"r/{name}.yaml", text)
    with pytest.raises(ConfigError) as caught:
        RecipeBook([tmp_path / "r"]).resolve(name)
    return str(caught.value), str(path)


# ---- inventory


def test_malformed_inventory_yaml_names_file_and_line(write):
    message, path = _inventory_error(write, "nodes:\n  - name: a\n    ip: [192.0.2.1\n")
    assert message.startswith(f"{path}:")
    assert "malformed YAML" in message


def test_inventory_top_level_must_be_a_mapping(write):
    message, path = _inventory_error(write, "- a\n- b\n")
    assert message.startswith(f"{path}:1:") and "mapping" in message


def test_inventory_without_nodes(write):
    message, path = _inventory_error(write, "defaults: {user: root}\n")
    assert message.startswith(f"{path}:") and "nodes" in message


def test_inventory_empty_node_list(write):
    message, _ = _inventory_error(write, "nodes: []\n")
    assert "no nodes" in message


def test_unknown_node_key_suggests_the_right_one(write):
    message, path = _inventory_error(write, "nodes:\n  - name: a\n    ip: 192.0.2.1\n    fabric_iface: eth1\n")
    assert message.startswith(f"{path}:4: nodes.0.fabric_iface: unknown key")
    assert "did you mean 'fabric_if'?" in message


def test_unknown_defaults_key_suggests_the_right_one(write):
    message, path = _inventory_error(write, "defaults:\n  usr: root\n" + "nodes:\n  - {name: a, ip: 192.0.2.1}\n")
    assert message.startswith(f"{path}:2: defaults.usr: unknown key")
    assert "did you mean 'user'?" in message


def test_misspelled_required_inventory_key_suggests_the_right_one(write):
    """`node:` for `nodes:` must say 'unknown key ... did you mean', not only 'nodes: Field required'."""
    message, path = _inventory_error(write, "node:\n  - {name: a, ip: 192.0.2.1}\n")
    assert message.startswith(f"{path}:1:")
    assert "did you mean 'nodes'?" in message


def test_source_is_not_an_inventory_key(write):
    message, path = _inventory_error(write, "source: x\nnodes:\n  - {name: a, ip: 192.0.2.1}\n")
    assert message.startswith(f"{path}:1: source: unknown key")


def test_wrong_type_names_the_key(write):
    message, path = _inventory_error(write, "defaults:\n  api_port: lots\nnodes:\n  - {name: a, ip: 192.0.2.1}\n")
    assert message.startswith(f"{path}:2: defaults.api_port:")


def test_hostname_instead_of_ip_mentions_mdns(write):
    message, path = _inventory_error(write, "nodes:\n  - name: a\n    ip: spark-1.local\n")
    assert message.startswith(f"{path}:3: nodes.0.ip:")
    assert "mDNS" in message


def test_hostname_as_fabric_ip_mentions_mdns(write):
    message, path = _inventory_error(write, "nodes:\n  - name: a\n    ip: 192.0.2.1\n    fabric_ip: spark-1\n")
    assert message.startswith(f"{path}:4: nodes.0.fabric_ip:") and "mDNS" in message


def test_duplicate_node_names(write):
    message, path = _inventory_error(write, TWO_NODES.replace("name: b", "name: a"))
    assert message.startswith(f"{path}:") and "name 'a'" in message


def test_duplicate_ips(write):
    message, _ = _inventory_error(write, TWO_NODES.replace("192.0.2.2", "192.0.2.1"))
    assert "ip '192.0.2.1'" in message


def test_duplicate_ips_in_different_spellings(write):
    text = "nodes:\n  - {name: a, ip: '2001:db8::1'}\n  - {name: b, ip: '2001:0db8:0:0::1'}\n"
    message, _ = _inventory_error(write, text)
    assert "2001:db8::1" in message


def test_duplicate_fabric_ips(write):
    """Two nodes on the same fabric address would both register as one Ray node."""
    text = """
        nodes:
          - {name: a, ip: 192.0.2.1, fabric_ip: 198.51.100.1}
          - {name: b, ip: 192.0.2.2, fabric_ip: 198.51.100.1}
        """
    message, _ = _inventory_error(write, text)
    assert "198.51.100.1" in message


def test_node_name_starting_with_dash(write):
    message, path = _inventory_error(write, "nodes:\n  - name: -rf\n    ip: 192.0.2.1\n")
    assert message.startswith(f"{path}:2: nodes.0.name:") and "'-'" in message


def test_node_name_with_space(write):
    message, path = _inventory_error(write, "nodes:\n  - name: two words\n    ip: 192.0.2.1\n")
    assert message.startswith(f"{path}:2: nodes.0.name:")


def test_bad_mount_spec(write):
    message, path = _inventory_error(write, "defaults:\n  mounts:\n    x: relative:/y\n" + TWO_NODES)
    assert message.startswith(f"{path}:3: defaults.mounts.x:") and "absolute" in message


def test_bad_ulimit(write):
    message, path = _inventory_error(write, "defaults:\n  ulimits:\n    memlock: unlimited\n" + TWO_NODES)
    assert message.startswith(f"{path}:3: defaults.ulimits.memlock:")


def test_missing_inventory_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_inventory(tmp_path / "missing.yaml")


def test_unknown_node_name_lists_known(inventory):
    with pytest.raises(ConfigError, match="no node named 'Goldfinger3'.*GoldFinger, GoldFinger2"):
        inventory.node("Goldfinger3")


def test_null_removes_a_default_mount_and_ulimit(write):
    inventory = load_inventory(write("inv.yaml", "defaults:\n  mounts: {triton: null}\n  ulimits: {memlock: null}\n"
                                                 + TWO_NODES))
    assert "triton" not in inventory.mounts()
    assert inventory.ulimits() == {"nofile": "1048576"}


# ---- recipes


def test_malformed_recipe_yaml(write, tmp_path):
    message, path = _recipe_error(write, tmp_path, "model: m\ncontainer: c\nargs:\n  x: [1, 2\n")
    assert message.startswith(f"{path}:") and "malformed YAML" in message


def test_unknown_recipe_key_suggests(write, tmp_path):
    message, path = _recipe_error(write, tmp_path, "model: m\ncontainer: c\nserved_nmae: x\n")
    assert message.startswith(f"{path}:3: served_nmae: unknown key")
    assert "did you mean 'served_name'?" in message


def test_unknown_benchmark_key_suggests(write, tmp_path):
    message, path = _recipe_error(write, tmp_path, "model: m\ncontainer: c\nbenchmark:\n  framwork: x\n")
    assert message.startswith(f"{path}:4: benchmark.framwork: unknown key")
    assert "did you mean 'framework'?" in message


def test_unknown_key_in_an_extended_recipe_names_that_file(write, tmp_path):
    write("r/parent.yaml", "model: m\ncontainer: c\nbenchmark:\n  framwork: x\n")
    message, _ = _recipe_error(write, tmp_path, "extends: parent\n", name="child")
    assert str(tmp_path / "r" / "parent.yaml") in message, message


def test_wrong_type(write, tmp_path):
    message, path = _recipe_error(write, tmp_path, "model: m\ncontainer: c\nargs: [a, b]\n")
    assert message.startswith(f"{path}:3: args:")


def test_arg_name_written_with_dashes(write, tmp_path):
    message, path = _recipe_error(write, tmp_path, "model: m\ncontainer: c\nargs:\n  --max-model-len: 1\n")
    assert message.startswith(f"{path}:") and "without '--'" in message


@pytest.mark.parametrize("reserved", ["host", "served-model-name", "distributed-executor-backend", "model"])
def test_reserved_arg(write, tmp_path, reserved):
    message, path = _recipe_error(write, tmp_path, f"model: m\ncontainer: c\nargs:\n  {reserved}: x\n")
    assert message.startswith(f"{path}:") and "set by sparkctl" in message


def test_args_port_is_the_write_ups_api_port_and_must_be_a_port(write, tmp_path):
    message, path = _recipe_error(write, tmp_path, "model: m\ncontainer: c\nargs:\n  port: x\n")
    assert message == f"{path}: args.port: expected one port number, got 'x'"


def test_bad_env_name(write, tmp_path):
    message, path = _recipe_error(write, tmp_path, "model: m\ncontainer: c\nenv:\n  1BAD: x\n")
    assert message.startswith(f"{path}:") and "1BAD" in message


@pytest.mark.parametrize("missing", ["model", "container"])
def test_missing_required_field(write, tmp_path, missing):
    text = "model: m\ncontainer: c\n".replace(f"{missing}: ", "description: ")
    message, path = _recipe_error(write, tmp_path, text.replace("description: c\n", "").replace("description: m\n", ""))
    assert message.startswith(f"{path}:") and f"{missing}: missing" in message


def test_unknown_recipe_suggests(builtin_book):
    with pytest.raises(ConfigError, match="unknown recipe 'openai-gpt-oss-120b-clustr'.*did you mean "
                                          "'openai-gpt-oss-120b-cluster'"):
        builtin_book.resolve("openai-gpt-oss-120b-clustr")


@pytest.mark.parametrize("name", ["../inventory", "a/b", ".hidden", "missing.yaml"])
def test_a_recipe_path_that_is_not_a_file(builtin_book, name):
    with pytest.raises(ConfigError, match=f"^{name}: recipe file not found$"):
        builtin_book.resolve(name)


def test_extends_cycle(write, tmp_path):
    write("r/a.yaml", "extends: b\nmodel: m\ncontainer: c\n")
    path = write("r/b.yaml", "extends: a\n")
    with pytest.raises(ConfigError) as caught:
        RecipeBook([tmp_path / "r"]).resolve("a")
    assert str(caught.value).startswith(f"{path}:1: extends: extends cycle: a -> b -> a")


def test_extends_itself(write, tmp_path):
    message, path = _recipe_error(write, tmp_path, "extends: bad\nmodel: m\ncontainer: c\n")
    assert message.startswith(f"{path}:1: extends:") and "bad -> bad" in message


def test_extends_unknown_recipe_names_the_file_and_line(write, tmp_path):
    message, path = _recipe_error(write, tmp_path, "model: m\ncontainer: c\nextends: nope\n")
    assert message.startswith(f"{path}:3: extends:"), message
    assert "unknown recipe 'nope'" in message


@pytest.mark.parametrize("value", ["two", "-2", "0.5"])
def test_tensor_parallel_size_must_be_a_positive_integer(write, tmp_path, value):
    message, path = _recipe_error(write, tmp_path, f"model: m\ncontainer: c\nargs:\n  tensor-parallel-size: {value}\n")
    assert message.startswith(f"{path}:4: args.tensor-parallel-size:"), message


# ---- topology


@pytest.fixture
def solo_recipe(builtin_book):
    return builtin_book.resolve("openai-gpt-oss-120b")


@pytest.fixture
def cluster_recipe(builtin_book):
    return builtin_book.resolve("openai-gpt-oss-120b-cluster")


def test_tp2_recipe_on_solo(inventory, cluster_recipe):
    with pytest.raises(TopologyError, match="needs 2 Sparks.*sparkctl up cluster openai-gpt-oss-120b-cluster"):
        assign(Topology.SOLO, cluster_recipe, inventory, None)


def test_tp2_recipe_on_replicas(inventory, cluster_recipe):
    with pytest.raises(TopologyError, match="needs 2 Sparks"):
        assign(Topology.REPLICAS, cluster_recipe, inventory, None)


def test_tp1_recipe_on_cluster(inventory, solo_recipe):
    with pytest.raises(TopologyError, match="runs on one Spark"):
        assign(Topology.CLUSTER, solo_recipe, inventory, None)


def test_too_few_nodes(write, cluster_recipe):
    one = load_inventory(write("inv.yaml", "nodes:\n  - {name: a, ip: 192.0.2.1}\n"))
    with pytest.raises(TopologyError, match="needs 2 Sparks but .*inv.yaml has 1"):
        assign(Topology.CLUSTER, cluster_recipe, one, None)


def test_nodes_count_must_match_tp(inventory, cluster_recipe):
    with pytest.raises(TopologyError, match="lists 1 node.*needs exactly 2"):
        assign(Topology.CLUSTER, cluster_recipe, inventory, ["GoldFinger"])


def test_solo_with_two_nodes(inventory, solo_recipe):
    with pytest.raises(TopologyError, match="lists 2 node.*needs exactly 1"):
        assign(Topology.SOLO, solo_recipe, inventory, ["GoldFinger", "GoldFinger2"])


def test_nodes_naming_unknown_node(inventory, cluster_recipe):
    with pytest.raises(ConfigError, match="no node named 'GoldFinger3'"):
        assign(Topology.CLUSTER, cluster_recipe, inventory, ["GoldFinger", "GoldFinger3"])


def test_nodes_naming_a_node_twice(inventory, cluster_recipe):
    with pytest.raises(TopologyError, match="names a node twice"):
        assign(Topology.CLUSTER, cluster_recipe, inventory, ["GoldFinger", "GoldFinger"])


def test_cluster_roles_follow_nodes_order(inventory, cluster_recipe):
    layout = assign(Topology.CLUSTER, cluster_recipe, inventory, ["GoldFinger2", "GoldFinger"])
    assert [(a.node.name, a.role) for a in layout.assignments] == [("GoldFinger2", Role.HEAD),
                                                                   ("GoldFinger", Role.WORKER)]


def test_solo_defaults_to_the_first_node(inventory, solo_recipe):
    layout = assign(Topology.SOLO, solo_recipe, inventory, None)
    assert [(a.node.name, a.role) for a in layout.assignments] == [("GoldFinger", Role.SOLO)]


def test_replicas_use_every_node(inventory, solo_recipe):
    layout = assign(Topology.REPLICAS, solo_recipe, inventory, None)
    assert [a.role for a in layout.assignments] == [Role.REPLICA, Role.REPLICA]


def test_ipv6_endpoint_is_a_valid_url(write, builtin_book):
    """An IPv6 node is accepted by the inventory, so its endpoint must bracket the address."""
    inventory = load_inventory(write("inv.yaml", "nodes:\n  - {name: a, ip: '2001:db8::1'}\n"))
    recipe = builtin_book.resolve("gpt-oss-20b")
    plan = planner.plan_up(inventory, recipe, assign(Topology.SOLO, recipe, inventory, None))
    url = urlsplit(plan.deployment.endpoint)
    assert (url.hostname, url.port) == ("2001:db8::1", 8000), plan.deployment.endpoint
