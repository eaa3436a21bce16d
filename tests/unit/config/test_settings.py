"""`--set`, `-e` and `--nodes` parsing, and the up request they build."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config.settings import Settings, parse_env, parse_sets, select_nodes, split_nodes
from orchestrator.errors import ConfigError, LintError
from orchestrator.ops.up import prepare_up
from orchestrator.plan.topology import Role

EXAMPLE_INVENTORY = Path(__file__).resolve().parents[3] / "inventory.yaml"


def test_set_values_parse_as_yaml_scalars():
    assert parse_sets(("max-model-len=8192", "enforce-eager=true", "gpu-memory-utilization=0.8", "x=a,b")) == {
        "max-model-len": 8192, "enforce-eager": True, "gpu-memory-utilization": 0.8, "x": "a,b"}


def test_set_strips_leading_dashes_and_empty_deletes():
    assert parse_sets(("--max-model-len=", "quantization=")) == {"max-model-len": None, "quantization": None}


@pytest.mark.parametrize("pair", ["max-model-len", "=1"])
def test_set_without_key_value(pair):
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_sets((pair,))


def test_set_value_that_is_not_yaml():
    with pytest.raises(ConfigError, match="--set"):
        parse_sets(("chat-template=`x`",))


def test_env_splits_plain_and_secret():
    assert parse_env(("A=1", "HF_TOKEN=abc", "B=")) == ({"A": "1", "B": ""}, {"HF_TOKEN": "abc"})


def test_env_name_forwards_from_shell(monkeypatch):
    monkeypatch.setenv("FORWARD_ME", "v")
    assert parse_env(("FORWARD_ME",)) == ({}, {"FORWARD_ME": "v"})


def test_env_name_missing_from_shell():
    with pytest.raises(ConfigError, match="-e ABSENT_XYZ: not set in this shell"):
        parse_env(("ABSENT_XYZ",))


def test_split_nodes():
    assert split_nodes(" a, b ,,c ") == ["a", "b", "c"]
    assert split_nodes(None) is None


def test_select_nodes_needs_a_choice(inventory):
    with pytest.raises(ConfigError, match="say which nodes"):
        select_nodes(inventory, None, False)
    with pytest.raises(ConfigError, match="not both"):
        select_nodes(inventory, "GoldFinger", True)
    assert [n.name for n in select_nodes(inventory, None, True)] == ["GoldFinger", "GoldFinger2"]


def test_prepare_up_cluster():
    request = prepare_up(Settings(inventory=str(EXAMPLE_INVENTORY)), "cluster", "openai-gpt-oss-120b-cluster",
                         None, (), (), False)
    assert [(a.node.name, a.role) for a in request.layout.assignments] == [("GoldFinger", Role.HEAD),
                                                                           ("GoldFinger2", Role.WORKER)]
    assert request.findings == [] and request.secrets == {}


def test_prepare_up_picks_up_hf_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "abc")
    request = prepare_up(Settings(inventory=str(EXAMPLE_INVENTORY)), "solo", "gpt-oss-20b", None, (), (), False)
    assert request.secrets == {"HF_TOKEN": "abc"}
    assert "HF_TOKEN" not in request.recipe.env


def test_prepare_up_refuses_lint_errors_unless_forced():
    settings = Settings(inventory=str(EXAMPLE_INVENTORY))
    with pytest.raises(LintError, match="enforce-eager-tp"):
        prepare_up(settings, "cluster", "openai-gpt-oss-120b-cluster", None, ("enforce-eager=false",), (), False)
    forced = prepare_up(settings, "cluster", "openai-gpt-oss-120b-cluster", None, ("enforce-eager=false",), (), True)
    assert [f.rule for f in forced.findings] == ["enforce-eager-tp"]
