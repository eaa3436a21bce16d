"""The replicas proxy: LiteLLM config, its phases in the plan, and the master key's storage."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml

from orchestrator.config import keys
from orchestrator.errors import ConfigError
from orchestrator.ops import proxy as proxy_ops
from orchestrator.plan import planner, proxy
from orchestrator.plan.topology import Topology, assign

KEY = "sk-test-0123456789abcdef"


def test_config_routes_one_name_over_every_backend():
    backends = ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]
    config = proxy.litellm_config("gpt-oss-120b", backends)
    assert [m["model_name"] for m in config["model_list"]] == ["gpt-oss-120b", "gpt-oss-120b"]
    assert [m["litellm_params"] for m in config["model_list"]] == [
        {"model": "hosted_vllm/gpt-oss-120b", "api_base": url, "api_key": "os.environ/VLLM_API_KEY"} for url in backends]
    assert config["router_settings"] == {"routing_strategy": "simple-shuffle", "num_retries": 2}
    assert config["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}


def test_config_is_one_line_of_yaml():
    config = proxy.litellm_config("m", ["http://10.0.0.1:8000/v1"])
    text = json.dumps(config, separators=(",", ":"))
    assert "\n" not in text and yaml.safe_load(text) == config


def _replicas_plan(inventory, builtin_book, secrets=()):
    recipe = builtin_book.resolve("openai-gpt-oss-120b")
    layout = assign(Topology.REPLICAS, recipe, inventory, None)
    return planner.plan_up(inventory, recipe, layout, planner.UpOptions(secrets=secrets))


def test_plan_checks_starts_and_waits_for_the_proxy_on_the_first_node(inventory, builtin_book):
    plan = _replicas_plan(inventory, builtin_book)
    assert [p.name for p in plan.phases] == ["preflight", "proxy-preflight", "drop-caches", "serve", "proxy",
                                             "readiness", "proxy-readiness", "restart-policy"]
    proxy_phases = [p for p in plan.phases if p.name.startswith("proxy")]
    assert {s.node for p in proxy_phases for s in p.steps} == {"GoldFinger"}
    assert plan.deployment.endpoint == "http://192.168.3.203:4000/v1"
    assert "litellm/litellm:v1.108.7" in proxy_phases[0].steps[0].script


def test_proxy_gets_only_its_key_by_name(inventory, builtin_book):
    plan = _replicas_plan(inventory, builtin_book, secrets=("HF_TOKEN",))
    start = next(p for p in plan.phases if p.name == "proxy").steps[0]
    assert start.secrets == ("LITELLM_MASTER_KEY", "VLLM_API_KEY")
    run = next(line for line in start.script.splitlines() if line.startswith("docker run"))
    assert " -e LITELLM_MASTER_KEY -e VLLM_API_KEY " in run and "HF_TOKEN" not in run
    assert "--entrypoint litellm litellm/litellm:v1.108.7 --config /etc/sparkctl/litellm.yaml" in run
    assert "--label sparkctl.role=proxy" in run and "--label sparkctl.deployment=" in run
    assert "--network host" in run
    serve = next(p for p in plan.phases if p.name == "serve")
    assert all("LITELLM_MASTER_KEY" not in s.secrets for s in serve.steps)


def test_proxy_image_comes_from_the_inventory(inventory, builtin_book):
    custom = inventory.model_copy(update={"defaults": inventory.defaults.model_copy(update={"proxy_image": "x/y:1"})})
    plan = _replicas_plan(custom, builtin_book)
    assert "x/y:1" in next(p for p in plan.phases if p.name == "proxy").steps[0].script


def test_generated_key_is_private_and_reused(monkeypatch):
    monkeypatch.delenv(keys.ENV, raising=False)
    assert keys.load_key(create=False) is None
    key = keys.load_key()
    assert key.startswith("sk-") and len(key) > 30
    path = keys.key_path()
    assert path.parent.name == "sparkctl" and path.name == "proxy-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.load_key() == key
    assert not [p for p in path.parent.iterdir() if p.name != "proxy-key"]


def test_environment_key_wins_and_is_not_stored(monkeypatch):
    monkeypatch.setenv(keys.ENV, KEY)
    assert keys.load_key() == KEY
    assert not keys.key_path().exists()


@pytest.mark.parametrize("bad", ["sk-1234", "no-prefix", "sk-with space"])
def test_weak_or_malformed_keys_are_refused(monkeypatch, bad):
    monkeypatch.setenv(keys.ENV, bad)
    with pytest.raises(ConfigError, match="proxy key"):
        keys.load_key()


def test_key_file_readable_by_others_is_refused(monkeypatch):
    monkeypatch.delenv(keys.ENV, raising=False)
    keys.load_key()
    os.chmod(keys.key_path(), 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        keys.load_key()


def test_status_backends_column():
    rows = [{"role": "replica", "endpoint": "http://a:8000/v1", "health": "ready"},
            {"role": "proxy", "endpoint": "http://a:4000/v1", "health": "ready"}]
    labels = [{}, {proxy.BACKENDS_LABEL: "http://a:8000/v1,http://b:8000/v1"}]
    shown = proxy_ops.with_backends(rows, labels)
    assert [r["backends"] for r in shown] == ["", "http://a:8000/v1 ready, http://b:8000/v1 unknown"]
