"""The doctor's verdicts over probe facts: each problem names its node (or pair) and a fix."""

from __future__ import annotations

from orchestrator.config.inventory import Node
from orchestrator.ops import doctor_checks as checks
from orchestrator.ops.doctor_checks import Severity

WINDOW = (1000.0, 1001.0)


def node(name: str = "spark1", **extra) -> Node:
    fields = {"ip": "10.77.0.11", "fabric_ip": "10.78.0.11", "fabric_if": "enp1s0f1np1", "rdma_dev": "rocep1s0f1"}
    return Node(name=name, **{**fields, **extra})


def healthy(**changes: str) -> dict[str, str]:
    facts = {
        "clock": "1000.5", "user": "root", "arch": "aarch64", "fabric_present": "yes", "fabric_state": "up",
        "fabric_mtu": "9000", "fabric_addrs": "10.78.0.11/24", "uverbs": "2",
        "rdma": "rocep1s0f1:ACTIVE:enp1s0f1np1,roceP2p1s0f1:ACTIVE:enP2p1s0f1np1",
        "docker": "ok", "nvidia": "runtime", "image.0": "arm64", "hf_free_kb": str(500 * 1048576),
        "mem_available_kb": "118000000", "page_cache_kb": "1000000", "drop_caches": "root",
    }
    return {**facts, **changes}


def problems(facts: dict[str, str], target: Node | None = None, images=("vllm-node",), required=()) -> list:
    return checks.node_problems(target or node(), facts, list(images), list(required), WINDOW)


def test_a_healthy_node_has_no_problems():
    assert problems(healthy()) == []


def test_fabric_down_names_the_node_the_interface_and_the_cable():
    found = problems(healthy(fabric_state="down"))
    assert [p.check for p in found] == ["fabric"]
    assert "spark1" in found[0].message and "enp1s0f1np1" in found[0].message
    assert "cable" in found[0].fix and found[0].severity == Severity.ERROR


def test_missing_fabric_interface_and_wrong_address():
    assert "does not exist" in problems(healthy(fabric_present="no"))[0].message
    wrong = problems(healthy(fabric_addrs="10.0.0.5/24"))
    assert "not the inventory's fabric_ip 10.78.0.11" in wrong[0].message


def test_no_fabric_if_in_the_inventory_is_a_warning_naming_init():
    found = checks.check_fabric(node(fabric_if=None), healthy(fabric_present="unset"))
    assert found[0].severity == Severity.WARNING and "sparkctl init" in found[0].fix


def test_mtu_mismatch_names_the_odd_node_out_and_the_command():
    nodes = [node(f"spark{i}") for i in (1, 2, 3)]
    facts = {"spark1": {"fabric_mtu": "9000"}, "spark2": {"fabric_mtu": "1500"}, "spark3": {"fabric_mtu": "9000"}}
    [found] = checks.check_mtus(nodes, facts)
    assert found.where == "spark2" and "spark2=1500" in found.message
    assert "on spark2: sudo ip link set enp1s0f1np1 mtu 9000" in found.fix and "spark1:" not in found.fix


def test_mtu_tie_names_both_nodes():
    nodes = [node("spark1"), node("spark2")]
    [found] = checks.check_mtus(nodes, {"spark1": {"fabric_mtu": "1500"}, "spark2": {"fabric_mtu": "9000"}})
    assert found.where == "spark1, spark2" and "on spark1: sudo ip link set enp1s0f1np1 mtu 9000" in found.fix
    assert checks.check_mtus(nodes, {"spark1": {"fabric_mtu": "9000"}, "spark2": {"fabric_mtu": "9000"}}) == []


def test_rdma_port_down_and_unknown_device():
    found = problems(healthy(rdma="rocep1s0f1:DOWN:enp1s0f1np1"))
    assert "port 1 is DOWN" in found[0].message and "ibv_devinfo -d rocep1s0f1" in found[0].fix
    other = problems(healthy(rdma="mlx5_0:ACTIVE:enp1s0f1np1"))
    assert any("rdma_dev rocep1s0f1 does not exist" in p.message and "mlx5_0" in p.fix for p in other)


def test_no_rdma_devices_is_an_error_only_when_the_inventory_wants_them():
    assert problems(healthy(rdma=""))[0].severity == Severity.ERROR
    assert problems(healthy(rdma=""), node(rdma_dev=None))[0].severity == Severity.WARNING


def test_missing_uverbs_and_unset_rdma_dev():
    assert "uverbs" in problems(healthy(uverbs="0"))[0].message
    [hint] = problems(healthy(), node(rdma_dev=None))
    assert hint.severity == Severity.WARNING and "rdma_dev: rocep1s0f1,roceP2p1s0f1" in hint.fix


def test_docker_missing_unreachable_and_no_nvidia_runtime():
    assert "not installed" in problems(healthy(docker="missing"))[0].message
    [denied] = problems(healthy(docker="unreachable", user="spark", docker_error="permission denied"))
    assert "usermod -aG docker spark" in denied.fix and "permission denied" in denied.message
    assert "nvidia-ctk" in problems(healthy(nvidia="missing"))[0].fix
    assert problems(healthy(nvidia="hook")) == []


def test_drop_caches_denied_is_a_warning_with_the_sudoers_line():
    [found] = problems(healthy(drop_caches="denied", user="spark"))
    assert found.severity == Severity.WARNING and "spark ALL=(root) NOPASSWD: /usr/bin/tee" in found.fix


def test_image_of_the_wrong_architecture_and_a_missing_required_one():
    [wrong] = problems(healthy(**{"image.0": "amd64"}))
    assert "built for amd64" in wrong.message and "arm64 (aarch64)" in wrong.message and "linux/arm64" in wrong.fix
    assert problems(healthy(**{"image.0": "missing"})) == []
    [missing] = problems(healthy(**{"image.0": "missing"}), required=("vllm-node",))
    assert "sparkctl images sync" in missing.fix


def test_disk_page_cache_and_clock_are_warnings():
    found = problems(healthy(hf_free_kb=str(10 * 1048576), page_cache_kb=str(40 * 1048576), clock="1010.0"))
    assert [p.check for p in found] == ["disk", "memory", "clock"]
    assert all(p.severity == Severity.WARNING for p in found)
    assert "sparkctl drop-caches --nodes spark1" in found[1].fix and "+9.0s" in found[2].message


def test_clock_skew_is_zero_inside_the_round_trip():
    assert checks.clock_skew({"clock": "1000.5"}, WINDOW) == 0.0
    assert checks.clock_skew({"clock": "995.0"}, WINDOW) == -5.0
    assert checks.clock_skew({}, WINDOW) is None


def test_pairs_one_problem_per_pair_naming_both_nodes():
    matrix = {"a": {"b": False, "c": True}, "b": {"a": False, "c": True}, "c": {"a": True, "b": None}}
    [found] = checks.check_pairs(matrix, {"a": "10.78.0.11", "b": "10.78.0.12", "c": "10.78.0.13"})
    assert found.where == "a <-> b" and "10.78.0.12" in found.message and "nor the other way" in found.message
    assert "ip route get 10.78.0.12" in found.fix


def test_parse_rdma():
    assert checks.parse_rdma("x:ACTIVE:eth1,y:DOWN:") == [checks.RdmaDevice("x", "ACTIVE", "eth1"),
                                                        checks.RdmaDevice("y", "DOWN", "")]
    assert checks.parse_rdma("") == []
