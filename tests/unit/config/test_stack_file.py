"""Stack files: validated like recipes (file:line, did-you-mean), entries resolved against the recipe book."""

from __future__ import annotations

import pytest

from orchestrator.config.stack import entry_recipe, load_stack
from orchestrator.errors import ConfigError

GOOD = """
name: lab
deployments:
  - name: coder
    recipe: openai-gpt-oss-120b-cluster
    topology: cluster
    nodes: [spark1, spark2]
  - name: small
    recipe: gpt-oss-20b
    topology: solo
    memory: 0.3
    port: 8100
    set: {max-model-len: 8192}
    env: {SOME_FLAG: true}
"""


def _error(write, text: str) -> tuple[str, str]:
    path = write("stack.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_stack(path)
    return str(caught.value), str(path)


def test_a_good_stack_loads_with_its_name_and_a_stable_hash(write):
    stack = load_stack(write("stack.yaml", GOOD))
    assert stack.name == "lab"
    assert [e.name for e in stack.entries] == ["coder", "small"]
    again = load_stack(write("other.yaml", GOOD))
    assert stack.content_hash == again.content_hash
    changed = load_stack(write("changed.yaml", GOOD.replace("0.3", "0.4")))
    assert changed.content_hash != stack.content_hash


def test_the_stack_name_defaults_to_the_file_name(write):
    assert load_stack(write("team-a.yaml", "deployments:\n  - {name: x, recipe: gpt-oss-20b, topology: solo}\n")).name == "team-a"


def test_unknown_key_names_line_and_offers_did_you_mean(write):
    message, path = _error(write, GOOD.replace("    port: 8100", "    prot: 8100"))
    assert message.startswith(f"{path}:11: deployments.1.prot: unknown key (did you mean 'port'?)")


def test_duplicate_names_bad_topology_and_memory_are_refused(write):
    assert "two deployments are named 'coder'" in _error(write, GOOD.replace("name: small", "name: coder"))[0]
    assert "deployments.0.topology" in _error(write, GOOD.replace("topology: cluster", "topology: swarm"))[0]
    assert "deployments.1.memory" in _error(write, GOOD.replace("memory: 0.3", "memory: 1.5"))[0]
    both = _error(write, GOOD.replace("{max-model-len: 8192}", "{gpu-memory-utilization: 0.4}"))[0]
    assert "memory and set.gpu-memory-utilization" in both
    assert "deployments.1.name: 'a b' is not a valid name" in _error(write, GOOD.replace("name: small", "name: 'a b'"))[0]


def test_an_empty_stack_is_refused(write):
    assert "deployments" in _error(write, "deployments: []\n")[0]


def test_entry_recipe_applies_set_env_and_memory(write, builtin_book):
    stack = load_stack(write("stack.yaml", GOOD))
    recipe = entry_recipe(stack, 1, builtin_book)
    assert recipe.args["gpu-memory-utilization"] == 0.3
    assert recipe.args["max-model-len"] == 8192
    assert recipe.env["SOME_FLAG"] == "1"
    assert recipe.content_hash != builtin_book.resolve("gpt-oss-20b").content_hash


def test_an_unknown_recipe_points_at_the_entry(write, builtin_book):
    stack = load_stack(write("stack.yaml", GOOD.replace("recipe: gpt-oss-20b", "recipe: gpt-oss-2b")))
    with pytest.raises(ConfigError) as caught:
        entry_recipe(stack, 1, builtin_book)
    assert str(caught.value).startswith(f"{stack.source}:8: deployments.1.recipe: unknown recipe 'gpt-oss-2b'")


def test_a_bad_set_value_points_at_the_entry(write, builtin_book):
    stack = load_stack(write("stack.yaml", GOOD.replace("{max-model-len: 8192}", "{max-model-len: -1}")))
    with pytest.raises(ConfigError) as caught:
        entry_recipe(stack, 1, builtin_book)
    assert "deployments.1.recipe: set.max-model-len: must be a positive whole number" in str(caught.value)


def test_recipe_paths_are_relative_to_the_stack_file(write, builtin_book, tmp_path):
    write("lab/mine.yaml", "extends: gpt-oss-20b\nargs: {max-model-len: 4096}\n")
    stack = load_stack(write("lab/stack.yaml", "deployments:\n  - {name: m, recipe: ./mine.yaml, topology: solo}\n"))
    assert entry_recipe(stack, 0, builtin_book).args["max-model-len"] == 4096


def test_secrets_in_a_stack_file_are_refused(write, builtin_book):
    stack = load_stack(write("stack.yaml", GOOD.replace("SOME_FLAG: true", "HF_TOKEN: hf_abc")))
    with pytest.raises(ConfigError) as caught:
        entry_recipe(stack, 1, builtin_book)
    assert "looks like a secret" in str(caught.value) and "hf_abc" not in str(caught.value)
