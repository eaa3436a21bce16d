"""Doctor and init over a fake transport: plans, scripts, tolerance of a dead node, and the discovery logic."""

from __future__ import annotations

import subprocess
import threading

import yaml

from orchestrator.config.inventory import Inventory, load_inventory
from orchestrator.errors import ConnectionFailed
from orchestrator.ops import discover, doctor
from orchestrator.ops.doctor_checks import RdmaDevice
from orchestrator.remote.executor import Executor
from orchestrator.remote.transport import Result
from tests.unit.conftest import EXAMPLE_INVENTORY

A, B = "GoldFinger", "GoldFinger2"
HEALTHY = ("clock={clock}\nuser=root\narch=aarch64\nfabric_present=yes\nfabric_state=up\nfabric_mtu=9000\n"
           "fabric_addrs={fabric}/24\nuverbs=2\nrdma=rocep1s0f1:ACTIVE:enp1s0f1np1\ndocker=ok\nnvidia=runtime\n"
           "image.0=arm64\nhf_free_kb=999999999\npage_cache_kb=10\n")


class FakeTransport:
    """Answers each script with a scripted Result and records what ran (the network is what we fake)."""

    def __init__(self, answer):
        self.answer, self.scripts, self.lock = answer, [], threading.Lock()

    def run(self, node, script, timeout, secrets=None, cancel=None):
        with self.lock:
            self.scripts.append((node.name, script))
        return self.answer(node, script)


class FakeSession:
    """What doctor needs of a Session: the real executor, over the fake transport."""

    def __init__(self, inventory: Inventory, answer):
        self.transport = FakeTransport(answer)
        self.executor = Executor(self.transport, inventory, lambda _event: None)

    def run(self, plan, report=None):
        return self.executor.run(plan, report)


def fake(inventory, answer) -> FakeSession:
    return FakeSession(inventory, answer)


def answer_healthy(node, script):
    import time

    if "reach()" in script:
        return Result(node.name, 0, "".join(f"reach.{n}=yes\n" for n in (A, B) if n != node.name), "", 0.01)
    return Result(node.name, 0, HEALTHY.format(clock=time.time(), fabric=node.fabric_ip), "", 0.01)


def test_probe_scripts_are_valid_bash_and_quote_values():
    inventory = load_inventory(EXAMPLE_INVENTORY)
    plan = doctor.probe_plan(inventory.nodes, ["vllm-node; rm -rf /"], None)
    script = plan.phases[0].steps[0].script
    assert "'vllm-node; rm -rf /'" in script and "'{{.Architecture}}'" in script
    for text in (script, doctor.pairs_plan(inventory.nodes, None).phases[0].steps[0].script):
        assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def test_healthy_cluster_two_phases_one_step_per_node():
    inventory = load_inventory(EXAMPLE_INVENTORY)
    current = fake(inventory, answer_healthy)
    findings = doctor.probe_nodes(current, inventory.nodes, ["vllm-node"], [], None)
    matrix, pair_problems = doctor.check_fabric_pairs(current, inventory.nodes, None)
    assert findings.problems == [] and pair_problems == []
    assert matrix == {A: {B: True}, B: {A: True}}
    assert sorted(n for n, _ in current.transport.scripts) == [A, A, B, B]


def test_a_dead_node_is_a_problem_and_the_others_are_still_checked():
    inventory = load_inventory(EXAMPLE_INVENTORY)

    def answer(node, script):
        if node.name == B:
            raise ConnectionFailed(f"{node.name} ({node.ip}): no answer on SSH within 10s")
        return answer_healthy(node, script)

    findings = doctor.probe_nodes(fake(inventory, answer), inventory.nodes, [], [], None)
    assert [(p.where, p.check) for p in findings.problems] == [(B, "ssh")]
    assert "no answer on SSH" in findings.problems[0].message and A in findings.facts


def test_preflight_checks_require_the_given_image():
    inventory = load_inventory(EXAMPLE_INVENTORY)

    def answer(node, script):
        result = answer_healthy(node, script)
        return Result(node.name, 0, result.stdout.replace("image.0=arm64", "image.0=missing"), "", 0.01)

    found = doctor.doctor_preflight_checks(fake(inventory, answer), inventory.nodes, ["vllm-node"])
    assert {p.where for p in found} == {A, B} and all(p.check == "image" for p in found)


def interfaces(*lines: str) -> list[discover.Interface]:
    return discover.parse_interfaces(dict(line.split("=", 1) for line in lines))


def test_init_chooses_the_interface_the_other_nodes_reach():
    found = interfaces("if.eth0=up:1500::10.77.0.11/24", "if.enp1s0f1np1=up:9000:mlx5_core:10.78.0.11/24",
                       "if.wlan0=up:1500::192.168.9.4/24")
    devices = [RdmaDevice("rocep1s0f1", "ACTIVE", "enp1s0f1np1")]
    reached = {"10.78.0.11": 3, "192.168.9.4": 1}
    assert discover.choose_fabric("10.77.0.11", found, devices, reached, 3).name == "enp1s0f1np1"
    assert discover.choose_fabric("10.77.0.11", found, devices, {}, 3) is None
    assert discover.choose_fabric("10.77.0.11", found, devices, {}, 0).name == "enp1s0f1np1"


def test_init_lists_active_roce_devices_as_the_inventory_accepts_them():
    devices = [RdmaDevice("roceP2p1s0f1", "ACTIVE", "enP2p1s0f1np1"), RdmaDevice("rocep1s0f1", "ACTIVE", "enp1s0f1np1"),
               RdmaDevice("mlx5_9", "DOWN", "")]
    value = discover.rdma_value(devices, "enp1s0f1np1")
    assert value in ("rocep1s0f1", "rocep1s0f1,roceP2p1s0f1")
    assert discover.rdma_value([RdmaDevice("x", "DOWN", "")], None) is None


def test_init_ulimits_only_below_the_defaults():
    assert discover.ulimits([{"dockerd_memlock": "unlimited", "dockerd_nofile": "1048576"}]) == {}
    assert discover.ulimits([{"dockerd_memlock": "8388608", "dockerd_nofile": "20000"}]) == {
        "memlock": "8388608", "nofile": "20000"}


def test_init_renders_a_valid_inventory():
    access = discover.Access("spark", ssh_key="~/.ssh/id_ed25519")
    text = discover.render_inventory(access, [{"name": "spark1", "ip": "10.77.0.11", "fabric_ip": "10.78.0.11",
                                               "fabric_if": "enp1s0f1np1", "rdma_dev": "rocep1s0f1"}], {})
    document = yaml.safe_load(text)
    assert document["defaults"] == {"user": "spark", "ssh_key": "~/.ssh/id_ed25519"}
    Inventory.model_validate(document)


def test_init_reach_counts_from_the_pairs_phase():
    inventory = discover.probe_inventory(("10.77.0.11", "10.77.0.12"), discover.Access("root"), EXAMPLE_INVENTORY)
    found = {"10.77.0.11": interfaces("if.eth0=up:1500::10.77.0.11/24", "if.fab=up:1500::10.78.0.11/24"),
             "10.77.0.12": interfaces("if.eth0=up:1500::10.77.0.12/24", "if.fab=up:1500::10.78.0.12/24")}

    def answer(node, script):
        peer = "10.78.0.12" if node.name == "10.77.0.11" else "10.78.0.11"
        assert peer in script and "10.77.0." not in script.split("reach()")[1]
        return Result(node.name, 0, f"reach.{peer}=yes\n", "", 0.01)

    counts = discover.reach_counts(fake(inventory, answer), ("10.77.0.11", "10.77.0.12"), found, None)
    assert counts == {"10.78.0.11": 1, "10.78.0.12": 1}
