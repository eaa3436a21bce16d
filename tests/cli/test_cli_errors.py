"""Bad input through the CLI: one clear `error:` line, a non-zero exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_expect import assert_clean_failure

BROKEN = "model: openai/gpt-oss-120b\ncontainer: vllm-node-mxfp4\nargs: {tensor-parallel-size: 2, gpu-memory-utilization: 0.8}\n"


def test_unknown_recipe_suggests(sparkctl):
    assert_clean_failure(sparkctl("up", "cluster", "openai-gpt-oss-120b-clustr", "--dry-run"), 2,
                         "unknown recipe 'openai-gpt-oss-120b-clustr'", "did you mean 'openai-gpt-oss-120b-cluster'?")


def test_malformed_inventory(sparkctl, write):
    inventory = write("inv.yaml", "nodes:\n  - name: a\n    ip: [1\n")
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", inventory=inventory), 2, f"{inventory}:",
                         "malformed YAML")


def test_unknown_inventory_key(sparkctl, write):
    inventory = write("inv.yaml", "nodes:\n  - name: a\n    ip: 192.0.2.1\n    fabricip: 198.51.100.1\n")
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", inventory=inventory), 2,
                         f"{inventory}:4: nodes.0.fabricip: unknown key", "did you mean 'fabric_ip'?")


def test_hostname_in_inventory(sparkctl, write):
    inventory = write("inv.yaml", "nodes:\n  - name: a\n    ip: spark-1.local\n")
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", inventory=inventory), 2,
                         f"{inventory}:3: nodes.0.ip:", "mDNS")


def test_duplicate_node_ip(sparkctl, write):
    inventory = write("inv.yaml", "nodes:\n  - {name: a, ip: 192.0.2.1}\n  - {name: b, ip: 192.0.2.1}\n")
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", inventory=inventory), 2, f"{inventory}:",
                         "192.0.2.1")


def test_node_name_starting_with_dash(sparkctl, write):
    inventory = write("inv.yaml", "nodes:\n  - {name: -oops, ip: 192.0.2.1}\n")
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", inventory=inventory), 2,
                         f"{inventory}:2: nodes.0.name:")


def test_missing_inventory_file(sparkctl, tmp_path):
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", inventory=tmp_path / "none.yaml"), 2,
                         "inventory file not found")


def test_no_inventory_anywhere(sparkctl):
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", inventory=None), 2, "no inventory found")


def test_inventory_from_environment(sparkctl, monkeypatch):
    example = Path(__file__).resolve().parents[2] / "inventory.yaml"
    monkeypatch.setenv("SPARKCTL_INVENTORY", str(example))
    assert sparkctl("plan", "solo", "gpt-oss-20b", inventory=None).code == 0


@pytest.mark.parametrize(("text", "fragments"), [
    ("model: m\ncontainer: [c\n", ("malformed YAML",)),
    ("model: m\ncontainer: c\nargz: {}\n", (":3: argz: unknown key", "did you mean 'args'?")),
    ("model: m\ncontainer: c\nargs: 5\n", (":3: args:",)),
    ("container: c\n", ("model: missing",)),
    ("model: m\n", ("container: missing",)),
    ("extends: bad\nmodel: m\ncontainer: c\n", (":1: extends: extends cycle: bad -> bad",)),
])
def test_bad_recipe_file(sparkctl, write, tmp_path, text, fragments):
    path = write("mine/bad.yaml", text)
    outcome = sparkctl("--recipes-dir", str(tmp_path / "mine"), "plan", "solo", "bad")
    assert_clean_failure(outcome, 2, str(path), *fragments)


@pytest.mark.parametrize(("option", "fragment"), [
    ("max-model-len", "expected key=value"),
    ("=5", "expected key=value"),
    ("Max_Len=5", "not a vLLM flag name"),
    ("host=0.0.0.0", "set by sparkctl"),
    ("chat-template=-x", "starts with '-'"),
])
def test_set_parse_errors(sparkctl, option, fragment):
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", "--set", option), 2, fragment)


@pytest.mark.parametrize("option", ["chat-template=`x`", "chat-template=[1", "chat-template=@file",
                                    "chat-template={a: b", "served-x=%z"])
def test_set_value_yaml_cannot_parse_is_a_clean_error(sparkctl, option):
    """`--set` values are parsed as YAML; one YAML cannot read must be a ConfigError naming --set, not a crash."""
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", "--set", option), 2, "--set")


@pytest.mark.parametrize("option", ["gpu-memory-utilization=abc", "tensor-parallel-size=two",
                                    "max-model-len=lots"])
def test_set_non_numeric_value_is_a_clean_error(sparkctl, option):
    outcome = sparkctl("plan", "solo", "openai-gpt-oss-120b", "--set", option)
    assert_clean_failure(outcome, 2, option.split("=")[0])


@pytest.mark.parametrize(("option", "fragment"), [
    ("1BAD=x", "not a valid environment variable name"),
    ("=x", "not a valid environment variable name"),
    ("NOT_SET_ANYWHERE_XYZ", "not set in this shell"),
])
def test_env_parse_errors(sparkctl, option, fragment):
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", "-e", option), 2, fragment)


def test_env_value_with_newline_is_refused(sparkctl):
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", "-e", "FOO=a\nb"), 2, "FOO")


def test_nodes_unknown(sparkctl):
    assert_clean_failure(sparkctl("plan", "cluster", "openai-gpt-oss-120b-cluster", "--nodes",
                                  "GoldFinger,GoldFinger9"), 2, "no node named 'GoldFinger9'", "GoldFinger, GoldFinger2")


def test_tp2_recipe_on_solo(sparkctl):
    assert_clean_failure(sparkctl("up", "solo", "openai-gpt-oss-120b-cluster", "--dry-run"), 2, "needs 2 Sparks",
                         "sparkctl up cluster openai-gpt-oss-120b-cluster")


def test_tp1_recipe_on_cluster(sparkctl):
    assert_clean_failure(sparkctl("up", "cluster", "openai-gpt-oss-120b", "--dry-run"), 2, "runs on one Spark")


def test_too_few_nodes(sparkctl, write):
    inventory = write("inv.yaml", "nodes:\n  - {name: a, ip: 192.0.2.1}\n")
    assert_clean_failure(sparkctl("up", "cluster", "openai-gpt-oss-120b-cluster", "--dry-run", inventory=inventory),
                         2, "needs 2 Sparks", str(inventory))


def test_nodes_count_not_matching_tp(sparkctl):
    assert_clean_failure(sparkctl("plan", "cluster", "openai-gpt-oss-120b-cluster", "--nodes", "GoldFinger"), 2,
                         "lists 1 node(s)", "needs exactly 2")


def test_nodes_count_not_matching_solo(sparkctl):
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", "--nodes", "GoldFinger,GoldFinger2"), 2,
                         "needs exactly 1")


def test_unknown_topology_is_a_usage_error(sparkctl):
    outcome = sparkctl("plan", "duo", "gpt-oss-20b")
    assert outcome.code == 2 and "Traceback" not in outcome.err
    assert "duo" in outcome.err


def test_missing_templates_dir(sparkctl, tmp_path):
    assert_clean_failure(sparkctl("--templates-dir", str(tmp_path / "nope"), "plan", "solo", "gpt-oss-20b"), 2,
                         "templates directory not found")


def test_template_error_is_a_config_error(sparkctl, write, tmp_path):
    write("tpl/drop_caches.sh.j2", "echo {{ no_such_variable }}\n")
    outcome = sparkctl("--templates-dir", str(tmp_path / "tpl"), "plan", "solo", "gpt-oss-20b")
    assert_clean_failure(outcome, 2, "template error", "no_such_variable")


def test_lint_error_refuses_up(sparkctl, write, tmp_path):
    write("mine/broken.yaml", BROKEN)
    outcome = sparkctl("--recipes-dir", str(tmp_path / "mine"), "up", "cluster", "broken", "--dry-run")
    assert_clean_failure(outcome, 3, "enforce-eager-tp", "--force", str(tmp_path / "mine" / "broken.yaml"))
    assert outcome.out == ""


def test_lint_error_refuses_plan(sparkctl, write, tmp_path):
    write("mine/broken.yaml", BROKEN)
    assert_clean_failure(sparkctl("--recipes-dir", str(tmp_path / "mine"), "plan", "cluster", "broken"), 3,
                         "enforce-eager-tp")


def test_force_overrides_lint_error_and_warns(sparkctl, write, tmp_path):
    write("mine/broken.yaml", BROKEN)
    outcome = sparkctl("--recipes-dir", str(tmp_path / "mine"), "up", "cluster", "broken", "--dry-run", "--force")
    assert outcome.code == 0
    assert "error: enforce-eager-tp:" in outcome.err
    assert "--entrypoint sh vllm-node-mxfp4 -c" in outcome.out and "ray start --head" in outcome.out


def test_set_can_fix_a_lint_error(sparkctl, write, tmp_path):
    write("mine/broken.yaml", BROKEN)
    outcome = sparkctl("--recipes-dir", str(tmp_path / "mine"), "up", "cluster", "broken", "--dry-run",
                       "--set", "enforce-eager=true")
    assert outcome.code == 0, outcome.err


def test_set_can_cause_a_lint_error(sparkctl):
    outcome = sparkctl("up", "cluster", "openai-gpt-oss-120b-cluster", "--dry-run", "--set", "enforce-eager=false")
    assert_clean_failure(outcome, 3, "enforce-eager-tp")


def test_debug_shows_the_traceback(sparkctl):
    with pytest.raises(Exception, match="unknown recipe"):
        sparkctl("--debug", "plan", "solo", "no-such-recipe")
