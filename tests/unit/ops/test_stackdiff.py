"""The stack diff: create, replace (recipe or shape changed, not all running), remove, unchanged, from labels."""

from __future__ import annotations

import pytest

from orchestrator.config.inventory import Inventory
from orchestrator.config.settings import Settings
from orchestrator.errors import ConfigError
from orchestrator.ops.stack import prepare_stack
from orchestrator.ops.stackdiff import Action, check_beside_other_stacks, diff, diff_text, foreign
from orchestrator.ops.up import Deadlines
from orchestrator.plan.argv import container_name, label_options
from orchestrator.plan.placement import PlacementError
from orchestrator.plan.proxy import ProxyRole
from orchestrator.plan.topology import Role
from orchestrator.remote.state import Container

INVENTORY = """
nodes:
  - {name: s1, ip: 192.0.2.1}
  - {name: s2, ip: 192.0.2.2}
  - {name: s3, ip: 192.0.2.3}
"""
STACK = """
name: lab
deployments:
  - {name: coder, recipe: openai-gpt-oss-120b-cluster, topology: cluster}
  - {name: small, recipe: gpt-oss-20b, topology: solo, memory: 0.4}
  - {name: nano, recipe: nemotron-3-nano-nvfp4, topology: solo, memory: 0.4}
"""


@pytest.fixture
def members(write, isolated):
    def build(stack: str = STACK):
        settings = Settings(inventory=str(write("inv.yaml", INVENTORY)))
        return list(prepare_stack(settings, write("lab.yaml", stack), False, Deadlines()).members)
    return build


def _running(member, state: str = "running") -> list[Container]:
    """The containers `up` would have started for member, as the status probe reads them back."""
    d = member.deployment
    if member.request is None:  # the stack's proxy: one container on its node
        words = label_options(d, Inventory.model_validate({"nodes": [{"name": d.nodes[0], "ip": "192.0.2.9"}]}).nodes[0],
                              ProxyRole.PROXY)
        return [Container(d.nodes[0], "sparkctl-proxy-lab", state, dict(w.split("=", 1) for w in words[1::2]))]
    found = []
    for assignment in member.request.layout.assignments:
        words = label_options(d, assignment.node, assignment.role)
        labels = dict(w.split("=", 1) for w in words[1::2])
        found.append(Container(assignment.node.name, container_name(d.name), state, labels))
    return found


def test_nothing_runs_so_everything_is_created_with_its_own_container_and_port(members):
    placed = members()
    changes = diff(placed, "lab", [])
    assert [(c.action, c.name) for c in changes] == [(Action.CREATE, "coder"), (Action.CREATE, "small"),
                                                     (Action.CREATE, "nano")]
    assert [m.deployment.endpoint for m in placed] == ["http://192.0.2.1:8000/v1", "http://192.0.2.3:8000/v1",
                                                       "http://192.0.2.3:8001/v1"]
    assert {s.description for p in placed[2].plan.phases for s in p.steps} >= {"start the vllm serve container"}
    assert "sparkctl-vllm-nano" in placed[2].plan.phases[2].steps[0].script


def test_what_runs_as_declared_is_unchanged(members):
    placed = members()
    live = [c for m in placed for c in _running(m)]
    assert [c.action for c in diff(placed, "lab", live)] == [Action.UNCHANGED] * 3
    assert foreign(placed, live) == {}


def test_a_changed_recipe_replaces_only_that_deployment_and_a_dropped_entry_is_removed(members):
    live = [c for m in members() for c in _running(m)]
    changed = members(STACK.replace("recipe: gpt-oss-20b", "recipe: qwen3-30b-a3b-instruct-fp8").replace(
        "  - {name: nano, recipe: nemotron-3-nano-nvfp4, topology: solo, memory: 0.4}\n", ""))
    changes = {c.name: c for c in diff(changed, "lab", live)}
    assert changes["nano"].action is Action.REMOVE and changes["nano"].why == "no longer in the stack"
    assert changes["small"].action is Action.REPLACE and changes["small"].why.startswith("recipe changed (")
    assert changes["coder"].action is Action.UNCHANGED
    assert [c.action for c in diff(changed, "lab", live)] == [Action.REMOVE, Action.REPLACE, Action.UNCHANGED]
    text = diff_text("lab", "lab.yaml", "0" * 64, list(changes.values()))
    assert "- remove    nano" in text and "~ replace   small" in text


def test_a_stopped_container_or_a_moved_port_means_replace(members):
    placed = members()
    live = [c for m in placed[:2] for c in _running(m)] + _running(placed[2], state="exited")
    assert diff(placed, "lab", live)[0].why == "0 of 1 containers running"
    moved = members(STACK.replace("memory: 0.4}\n  - {name: nano", "memory: 0.4, port: 9000}\n  - {name: nano"))
    live = [c for m in placed for c in _running(m)]
    replaced = [c for c in diff(moved, "lab", live) if c.action is Action.REPLACE]
    # nano's assigned port was 8001 only because small held 8000: assigned ports follow the others (pin port: to keep one)
    assert [(c.name, c.why) for c in replaced] == [
        ("small", "endpoint moves (http://192.0.2.3:8000/v1 -> http://192.0.2.3:9000/v1)"),
        ("nano", "endpoint moves (http://192.0.2.3:8001/v1 -> http://192.0.2.3:8000/v1)")]


def test_another_stacks_deployments_are_not_ours_and_a_plain_up_blocks(members):
    placed = members()
    other = [Container(c.node, c.name, c.state, {**c.labels, "sparkctl.stack": "other"}) for c in _running(placed[1])]
    assert [c.action for c in diff(placed, "lab", other)] == [Action.CREATE] * 3
    plain = [Container("s3", "sparkctl-vllm", "running", {"sparkctl.deployment": "x.solo.1234", "sparkctl.nodes": "s3"})]
    assert list(foreign(placed, plain)) == ["x.solo.1234"]


def test_a_plain_up_keeps_its_container_name_and_labels(members):
    assert container_name("") == "sparkctl-vllm"
    placed = members()
    labels = label_options(placed[0].deployment, placed[0].request.layout.nodes[0], Role.HEAD)
    assert "sparkctl.name=coder" in labels and "sparkctl.stack=lab" in labels
    assert placed[0].deployment.id.startswith("coder.openai-gpt-oss-120b-cluster.cluster.")


PROXIED = STACK + "proxy: {node: s1}\n"


def test_the_stack_proxy_routes_each_model_name_to_its_deployment(members):
    placed = members(PROXIED)
    proxy = placed[-1]
    assert proxy.name == "_proxy" and proxy.request is None
    assert proxy.deployment.endpoint == "http://192.0.2.1:4000/v1"
    start = next(s for p in proxy.plan.phases for s in p.steps if p.name == "proxy")
    for name, url in (("openai/gpt-oss-120b", "http://192.0.2.1:8000/v1"), ("gpt-oss-20b", "http://192.0.2.3:8000/v1"),
                      ("nemotron-3-nano", "http://192.0.2.3:8001/v1")):
        assert f'"api_base":"{url}"' in start.script and f'"model_name":"{name}"' in start.script
    assert "sparkctl-proxy-lab" in start.script and "sparkctl.name=_proxy" in start.script
    assert "os.environ/LITELLM_MASTER_KEY" in start.script


def test_the_proxy_is_replaced_when_a_route_changes_and_removed_with_its_section(members):
    placed = members(PROXIED)
    live = [c for m in placed for c in _running(m)]
    assert [c.action for c in diff(placed, "lab", live)] == [Action.UNCHANGED] * 4
    moved = members(PROXIED.replace("memory: 0.4}\n  - {name: nano", "memory: 0.4, port: 9000}\n  - {name: nano"))
    assert {c.name for c in diff(moved, "lab", live) if c.action is Action.REPLACE} == {"small", "nano", "_proxy"}
    assert [(c.action, c.name) for c in diff(members(), "lab", live)][0] == (Action.REMOVE, "_proxy")


def test_the_proxy_port_is_reserved_and_model_names_must_differ(members):
    with pytest.raises(ConfigError, match="port 8000 on s3 is asked for by both 'the stack's proxy' and 'small'"):
        members(STACK.replace("memory: 0.4}", "memory: 0.4, port: 8000}", 1) + "proxy: {node: s3, port: 8000}\n")
    assert members(STACK + "proxy: {node: s1, port: 8000}\n")[0].deployment.endpoint == "http://192.0.2.1:8001/v1"
    twice = PROXIED.replace("recipe: nemotron-3-nano-nvfp4", "recipe: gpt-oss-20b")
    with pytest.raises(ConfigError, match=r"lab.yaml:\d+: proxy: two deployments serve the model name gpt-oss-20b"):
        members(twice)
    with pytest.raises(ConfigError, match="proxy.node: .*no node named 's9'"):
        members(STACK + "proxy: {node: s9}\n")


def _other_stack(node: str, port: int, share: str) -> Container:
    labels = {"sparkctl.deployment": "x.y.solo.1", "sparkctl.name": "x", "sparkctl.stack": "team", "sparkctl.role": "solo",
              "sparkctl.endpoint": f"http://192.0.2.9:{port}/v1", "sparkctl.memory": share}
    return Container(node, "sparkctl-vllm-x", "running", labels)


def test_another_stacks_memory_and_ports_count_on_shared_nodes(members, write):
    placed = members()
    inventory = placed[0].request.inventory
    check_beside_other_stacks(placed, "lab", [_other_stack("s3", 9000, "0.05")], inventory)  # fits: 0.05 + 0.8
    with pytest.raises(PlacementError, match=r"node s3 also runs another stack's deployments: 0.50 \(team/x\) \+ "
                                             r"0.40 \(small\) \+ 0.40 \(nano\) = 1.30, over its memory budget of 0.85"):
        check_beside_other_stacks(placed, "lab", [_other_stack("s3", 9000, "0.5")], inventory)
    with pytest.raises(PlacementError, match="port 8000 on s1 is taken by 'x' of stack 'team'; give 'coder' another"):
        check_beside_other_stacks(placed, "lab", [_other_stack("s1", 8000, "0.05")], inventory)
    mine = [Container(c.node, c.name, c.state, {**c.labels, "sparkctl.memory": "0.9"}) for c in _running(placed[1])]
    check_beside_other_stacks(placed, "lab", mine, inventory)  # this stack's own deployments are placed, not counted
