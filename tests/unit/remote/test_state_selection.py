"""Picking one deployment of several from the live labels: by a stack's deployment name, a stack name or an id."""

from __future__ import annotations

import pytest

from orchestrator.config.inventory import Inventory
from orchestrator.errors import ConfigError
from orchestrator.remote.state import Container, entry_point, selected

INVENTORY = Inventory.model_validate({"nodes": [{"name": "s1", "ip": "192.0.2.1"}, {"name": "s3", "ip": "192.0.2.3"}]})


def _container(node: str, deployment: str, endpoint: str, name: str = "", stack: str = "") -> Container:
    labels = {"sparkctl.deployment": deployment, "sparkctl.endpoint": endpoint}
    if name:
        labels |= {"sparkctl.name": name, "sparkctl.stack": stack}
    return Container(node, f"sparkctl-vllm-{name}" if name else "sparkctl-vllm", "running", labels)


LIVE = [_container("s1", "coder.x.cluster.1", "http://192.0.2.1:8000/v1", "coder", "lab"),
        _container("s3", "small.y.solo.2", "http://192.0.2.3:8001/v1", "small", "lab")]


def test_a_name_picks_its_deployment_a_stack_name_all_of_them():
    assert [c.node for c in selected(LIVE, "small")] == ["s3"]
    assert [c.node for c in selected(LIVE, "coder.x.cluster.1")] == ["s1"]
    assert selected(LIVE, "lab") == LIVE and selected(LIVE, None) == LIVE


def test_an_unknown_name_lists_what_runs():
    with pytest.raises(ConfigError, match="no deployment or stack named 'big' runs; running: coder, small"):
        selected(LIVE, "big")


def test_the_entry_point_of_several_needs_a_name():
    with pytest.raises(ConfigError, match="several deployments are running"):
        entry_point(LIVE, INVENTORY)
    node, port, container = entry_point(LIVE, INVENTORY, "small")
    assert (node.name, port, container.name) == ("s3", 8001, "sparkctl-vllm-small")
