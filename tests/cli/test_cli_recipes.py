"""`sparkctl recipes list|show|diff|lint`."""

from __future__ import annotations

import json

import yaml
from cli_expect import assert_clean_failure

TOPOLOGY_KEYS = {"args.tensor-parallel-size", "args.max-model-len", "args.gpu-memory-utilization", "args.mxfp4-layers"}


def test_diff_solo_and_cluster_lists_only_topology_keys(sparkctl):
    outcome = sparkctl("recipes", "diff", "openai-gpt-oss-120b", "openai-gpt-oss-120b-cluster")
    assert outcome.code == 0
    keys = {line.split(":", 1)[0] for line in outcome.out.splitlines()}
    assert keys == TOPOLOGY_KEYS
    assert "args.tensor-parallel-size: 1 -> 2" in outcome.out
    assert "args.mxfp4-layers: moe,qkv,o,lm_head -> moe,qkv,o" in outcome.out


def test_diff_json(sparkctl):
    outcome = sparkctl("--json", "recipes", "diff", "openai-gpt-oss-120b", "openai-gpt-oss-120b-cluster")
    rows = json.loads(outcome.out)
    assert {row["key"] for row in rows} == TOPOLOGY_KEYS
    assert {"key": "args.tensor-parallel-size", "openai-gpt-oss-120b": 1, "openai-gpt-oss-120b-cluster": 2} in rows


def test_diff_of_identical_recipes(sparkctl):
    outcome = sparkctl("recipes", "diff", "gpt-oss-20b", "gpt-oss-20b")
    assert outcome.out.strip() == "gpt-oss-20b and gpt-oss-20b resolve to the same deployment"


def test_diff_unknown_recipe(sparkctl):
    assert_clean_failure(sparkctl("recipes", "diff", "gpt-oss-20b", "gpt-oss-21b"), 2,
                         "unknown recipe 'gpt-oss-21b'", "did you mean 'gpt-oss-20b'?")


def test_list_json_has_every_builtin(sparkctl):
    rows = json.loads(sparkctl("--json", "recipes", "list").out)
    by_name = {row["name"]: row for row in rows}
    assert by_name["openai-gpt-oss-120b-cluster"]["nodes"] == 2
    assert by_name["openai-gpt-oss-120b"]["nodes"] == 1
    assert len(by_name) == len(rows) >= 14


def test_list_table(sparkctl):
    outcome = sparkctl("recipes", "list")
    assert outcome.code == 0
    assert "openai-gpt-oss-120b-cluster" in outcome.out


def test_list_includes_recipes_dir(sparkctl, write, tmp_path):
    write("mine/my-model.yaml", "model: org/my-model\ncontainer: img\nargs: {gpu-memory-utilization: 0.8}\n")
    rows = json.loads(sparkctl("--recipes-dir", str(tmp_path / "mine"), "--json", "recipes", "list").out)
    assert "my-model" in {row["name"] for row in rows}


def test_show_resolves_extends(sparkctl):
    data = yaml.safe_load(sparkctl("recipes", "show", "openai-gpt-oss-120b-cluster").out)
    assert data["extends"] == ["openai-gpt-oss-120b"]
    assert data["model"] == "openai/gpt-oss-120b"
    assert data["args"]["tensor-parallel-size"] == 2
    assert data["args"]["tool-call-parser"] == "openai"
    assert len(data["hash"]) == 64


def test_show_hash_matches_list_hash(sparkctl):
    shown = json.loads(sparkctl("--json", "recipes", "show", "gpt-oss-20b").out)
    listed = {r["name"]: r for r in json.loads(sparkctl("--json", "recipes", "list").out)}
    assert shown["hash"] == listed["gpt-oss-20b"]["hash"]


def test_recipes_dir_shadows_builtin_in_show(sparkctl, write, tmp_path):
    write("mine/openai-gpt-oss-120b.yaml", "model: my/model\ncontainer: img\n")
    data = json.loads(sparkctl("--recipes-dir", str(tmp_path / "mine"), "--json", "recipes", "show",
                               "openai-gpt-oss-120b").out)
    assert data["model"] == "my/model"
    assert data["source"] == str(tmp_path / "mine" / "openai-gpt-oss-120b.yaml")


def test_lint_all_builtins_clean(sparkctl):
    outcome = sparkctl("recipes", "lint")
    assert (outcome.code, outcome.out.strip()) == (0, "no problems found")


def test_lint_reports_errors_and_exits_3(sparkctl, write, tmp_path):
    write("mine/broken.yaml", "model: openai/gpt-oss-120b\ncontainer: vllm-node-mxfp4\n"
                              "args: {tensor-parallel-size: 2, gpu-memory-utilization: 0.8}\n")
    outcome = sparkctl("--recipes-dir", str(tmp_path / "mine"), "recipes", "lint", "broken")
    assert outcome.code == 3
    assert "broken: error: enforce-eager-tp:" in outcome.out
    assert "Traceback" not in outcome.err


def test_lint_warning_only_exits_0(sparkctl, write, tmp_path):
    write("mine/warm.yaml", "model: org/m\ncontainer: img\nargs: {gpu-memory-utilization: 0.95}\n")
    outcome = sparkctl("--recipes-dir", str(tmp_path / "mine"), "recipes", "lint", "warm")
    assert outcome.code == 0
    assert "warm: warning: gpu-memory-high:" in outcome.out


def test_lint_json(sparkctl, write, tmp_path):
    write("mine/broken.yaml", "model: org/m\ncontainer: img\nargs: {enable-auto-tool-choice: true}\n")
    outcome = sparkctl("--recipes-dir", str(tmp_path / "mine"), "--json", "recipes", "lint", "broken")
    findings = json.loads(outcome.out)
    assert [(f["rule"], f["severity"]) for f in findings] == [("gpu-memory-high", "warning"),
                                                              ("tool-choice-parser", "error")]
