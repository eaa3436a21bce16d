"""Values that cannot be one safe command word (newline, leading '-') are refused at load, naming file:line: key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.config.book import RecipeBook
from orchestrator.config.inventory import load_inventory
from orchestrator.errors import ConfigError

RECIPE_LINES = {  # key path -> (line number, yaml line template with {v})
    "description": (1, 'description: {v}'),
    "model": (2, "model: {v}"),
    "revision": (3, "revision: {v}"),
    "served_name": (4, "served_name: {v}"),
    "container": (5, "container: {v}"),
    "args.free-text": (7, "  free-text: {v}"),
    "args.list-arg": (8, "  list-arg: [{v}, b]"),
    "env.SOME_ENV": (10, "  SOME_ENV: {v}"),
    "mounts.data": (12, "  data: {v}"),
}
RECIPE_DEFAULTS = {
    "description": '"d"', "model": '"m/x"', "revision": '"main"', "served_name": '"s"', "container": '"img"',
    "args.free-text": '"v"', "args.list-arg": '"a"', "env.SOME_ENV": '"v"', "mounts.data": '"/data:/data"',
}
INVENTORY_LINES = {
    "defaults.user": (2, "  user: {v}"),
    "defaults.ssh_key": (3, "  ssh_key: {v}"),
    "defaults.mounts.data": (5, "    data: {v}"),
    "nodes.0.name": (7, "  - name: {v}"),
    "nodes.0.fabric_if": (9, "    fabric_if: {v}"),
    "nodes.0.rdma_dev": (10, "    rdma_dev: {v}"),
    "nodes.0.ssh_key": (11, "    ssh_key: {v}"),
}
INVENTORY_DEFAULTS = {
    "defaults.user": "root", "defaults.ssh_key": "~/.ssh/id", "defaults.mounts.data": "/data:/data",
    "nodes.0.name": "a", "nodes.0.fabric_if": "eth1", "nodes.0.rdma_dev": "mlx0", "nodes.0.ssh_key": "~/.ssh/k",
}


def _recipe_text(key: str, value: str) -> str:
    lines = {k: template.format(v=json.dumps(value) if k == key else RECIPE_DEFAULTS[k])
             for k, (_, template) in RECIPE_LINES.items()}
    return "\n".join([
        lines["description"], lines["model"], lines["revision"], lines["served_name"], lines["container"],
        "args:", lines["args.free-text"], lines["args.list-arg"],
        "env:", lines["env.SOME_ENV"],
        "mounts:", lines["mounts.data"],
    ]) + "\n"


def _inventory_text(key: str, value: str) -> str:
    lines = {k: template.format(v=json.dumps(value if k == key else INVENTORY_DEFAULTS[k]))
             for k, (_, template) in INVENTORY_LINES.items()}
    return "\n".join([
        "defaults:", lines["defaults.user"], lines["defaults.ssh_key"], "  mounts:", lines["defaults.mounts.data"],
        "nodes:", lines["nodes.0.name"], "    ip: 192.0.2.1", lines["nodes.0.fabric_if"], lines["nodes.0.rdma_dev"],
        lines["nodes.0.ssh_key"],
    ]) + "\n"


def _resolve(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "recipes"
    directory.mkdir()
    path = directory / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    RecipeBook([directory]).resolve("bad")
    return path


def _assert_names(message: str, path: Path, line: int, key: str) -> None:
    assert f"{path}:{line}:" in message, f"file:line missing from: {message}"
    assert key in message, f"key {key} missing from: {message}"


def test_clean_recipe_and_inventory_templates_load(tmp_path):
    _resolve(tmp_path, _recipe_text("model", "m/x"))
    path = tmp_path / "inventory.yaml"
    path.write_text(_inventory_text("nodes.0.name", "a"), encoding="utf-8")
    load_inventory(path)


@pytest.mark.parametrize("key", [k for k in RECIPE_LINES if k != "env.SOME_ENV"])
def test_recipe_value_with_leading_dash_is_refused(tmp_path, key):
    value = "-/x:/y" if key.startswith("mounts") else "--rm"
    with pytest.raises(ConfigError) as caught:
        _resolve(tmp_path, _recipe_text(key, value))
    _assert_names(str(caught.value), tmp_path / "recipes" / "bad.yaml", RECIPE_LINES[key][0], key)
    assert "'-'" in str(caught.value) or "absolute" in str(caught.value)


@pytest.mark.parametrize("key", list(RECIPE_LINES))
def test_recipe_value_with_newline_is_refused(tmp_path, key):
    value = "/x:/y\n--privileged" if key.startswith("mounts") else "ok\ntouch /tmp/pwned"
    with pytest.raises(ConfigError) as caught:
        _resolve(tmp_path, _recipe_text(key, value))
    _assert_names(str(caught.value), tmp_path / "recipes" / "bad.yaml", RECIPE_LINES[key][0], key)


@pytest.mark.parametrize("key", ["defaults.user", "defaults.ssh_key", "nodes.0.name", "nodes.0.fabric_if",
                                 "nodes.0.rdma_dev", "nodes.0.ssh_key"])
def test_inventory_value_with_leading_dash_is_refused(tmp_path, key):
    path = tmp_path / "inventory.yaml"
    path.write_text(_inventory_text(key, "-oProxyCommand=x"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    _assert_names(str(caught.value), path, INVENTORY_LINES[key][0], key)


@pytest.mark.parametrize("key", list(INVENTORY_LINES))
def test_inventory_value_with_newline_is_refused(tmp_path, key):
    path = tmp_path / "inventory.yaml"
    value = "/x:/y\n-v /:/host" if key.endswith("mounts.data") else "a\nb"
    path.write_text(_inventory_text(key, value), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    _assert_names(str(caught.value), path, INVENTORY_LINES[key][0], key)
