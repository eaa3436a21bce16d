"""Recipe resolution: extends merges key by key, null deletes, stable content hash, search-path order."""

from __future__ import annotations

import pytest

from orchestrator.config.book import RecipeBook, recipe_dirs
from orchestrator.config.paths import builtin_dir
from orchestrator.config.recipe import with_overrides
from orchestrator.errors import ConfigError

BASE = """
    description: base recipe
    model: org/model
    revision: v1
    served_name: served
    container: img
    args:
      max-model-len: 4096
      gpu-memory-utilization: 0.8
      enable-prefix-caching: true
    env:
      A: "1"
      B: "2"
    mounts:
      data: /data:/data
    benchmark:
      framework: llama-benchy
      args: {runs: 3}
    """


@pytest.fixture
def book(write, tmp_path) -> RecipeBook:
    write("r/base.yaml", BASE)
    write("r/child.yaml", """
        description: child recipe
        extends: base
        revision: null
        args:
          max-model-len: 8192
          enable-prefix-caching: null
          enforce-eager: true
        env:
          B: null
          C: "3"
        mounts:
          models: /models:/models:ro
        """)
    return RecipeBook([tmp_path / "r"])


def test_child_overrides_one_arg_and_keeps_the_rest(book):
    args = book.resolve("child").args
    assert args["max-model-len"] == 8192
    assert args["gpu-memory-utilization"] == 0.8


def test_child_adds_keys(book):
    child = book.resolve("child")
    assert child.args["enforce-eager"] is True
    assert child.env["C"] == "3"
    assert child.mounts == {"data": "/data:/data", "models": "/models:/models:ro"}


def test_null_deletes_a_map_key(book):
    child = book.resolve("child")
    assert "enable-prefix-caching" not in child.args
    assert child.env == {"A": "1", "C": "3"}


def test_null_deletes_a_top_level_key(book):
    assert book.resolve("child").revision is None


def test_unset_top_level_keys_are_inherited(book):
    child = book.resolve("child")
    assert (child.model, child.served_name, child.container) == ("org/model", "served", "img")
    assert child.benchmark.args == {"runs": 3}


def test_resolved_recipe_records_its_chain_and_source(book, tmp_path):
    child = book.resolve("child")
    assert child.chain == ("child", "base")
    assert child.source == str(tmp_path / "r" / "child.yaml")


def test_three_level_chain(book, write):
    write("r/grandchild.yaml", "extends: child\nargs: {max-model-len: 16384}\n")
    recipe = book.resolve("grandchild")
    assert recipe.chain == ("grandchild", "child", "base")
    assert recipe.args["max-model-len"] == 16384
    assert recipe.args["enforce-eager"] is True


def test_yaml_booleans_in_env_become_1_and_0(write, tmp_path):
    write("r/b.yaml", "model: m\ncontainer: c\nenv: {FLAG_ON: true, FLAG_OFF: false, N: 3}\n")
    assert RecipeBook([tmp_path / "r"]).resolve("b").env == {"FLAG_ON": "1", "FLAG_OFF": "0", "N": "3"}


def test_hash_is_stable_across_runs(book):
    assert book.resolve("child").content_hash == book.resolve("child").content_hash


def test_hash_ignores_key_order(write, tmp_path):
    write("r/one.yaml", "model: m\ncontainer: c\nargs: {a-arg: 1, b-arg: 2}\nenv: {X: '1', Y: '2'}\n")
    write("r/two.yaml", "env: {Y: '2', X: '1'}\nargs: {b-arg: 2, a-arg: 1}\ncontainer: c\nmodel: m\n")
    book = RecipeBook([tmp_path / "r"])
    assert book.resolve("one").content_hash == book.resolve("two").content_hash


def test_hash_is_a_sha256_hex(book):
    digest = book.resolve("base").content_hash
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert book.resolve("base").short_hash == digest[:12]


def test_hash_ignores_description_and_benchmark(write, tmp_path):
    write("r/one.yaml", "model: m\ncontainer: c\ndescription: one\nbenchmark: {args: {runs: 1}}\n")
    write("r/two.yaml", "model: m\ncontainer: c\ndescription: two\nbenchmark: {args: {runs: 9}}\n")
    book = RecipeBook([tmp_path / "r"])
    assert book.resolve("one").content_hash == book.resolve("two").content_hash


def test_hash_ignores_the_recipe_name(book, write):
    write("r/copy.yaml", BASE)
    assert book.resolve("copy").content_hash == book.resolve("base").content_hash


@pytest.mark.parametrize(("args", "env"), [
    ({"max-model-len": 4097}, {}),
    ({"gpu-memory-utilization": 0.81}, {}),
    ({"enable-prefix-caching": None}, {}),
    ({"new-arg": "x"}, {}),
    ({}, {"A": "2"}),
    ({}, {"D": "4"}),
])
def test_hash_changes_with_any_arg_or_env(book, args, env):
    base = book.resolve("base")
    assert with_overrides(base, args, env).content_hash != base.content_hash


@pytest.mark.parametrize("field", ["model", "revision", "served_name", "container"])
def test_hash_changes_with_each_identity_field(book, write, tmp_path, field):
    write("r/variant.yaml", f"extends: base\n{field}: other\n")
    assert book.resolve("variant").content_hash != book.resolve("base").content_hash


def test_hash_changes_with_mounts(book, write):
    write("r/variant.yaml", "extends: base\nmounts: {data: /other:/data}\n")
    assert book.resolve("variant").content_hash != book.resolve("base").content_hash


def test_builtin_cluster_recipe_hash_is_pinned(builtin_book):
    """The content hash of a shipped recipe is part of deployed container labels: changing it is a decision."""
    recipe = builtin_book.resolve("openai-gpt-oss-120b-cluster")
    assert recipe.content_hash == "8379b948cec5f8864d419e714d9b717cb44d406b67c7cacae212030de320b523"


def test_search_path_order(tmp_path, monkeypatch):
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    (tmp_path / "work" / "recipes").mkdir()
    (tmp_path / "xdg" / "sparkctl" / "recipes").mkdir(parents=True)
    dirs = recipe_dirs(str(explicit))
    assert [str(d) for d in dirs] == [
        str(explicit), "recipes", str(tmp_path / "xdg" / "sparkctl" / "recipes"), str(builtin_dir("recipes"))]


def test_missing_recipes_dir_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="recipes directory not found"):
        recipe_dirs(str(tmp_path / "nope"))


def test_recipes_dir_shadows_builtin(write, tmp_path):
    write("mine/openai-gpt-oss-120b.yaml", "model: my/model\ncontainer: my-image\n")
    recipe = RecipeBook(recipe_dirs(str(tmp_path / "mine"))).resolve("openai-gpt-oss-120b")
    assert recipe.model == "my/model"


def test_local_recipes_dir_shadows_user_config_dir(write, tmp_path):
    write("work/recipes/same.yaml", "model: local/model\ncontainer: c\n")
    write("xdg/sparkctl/recipes/same.yaml", "model: user/model\ncontainer: c\n")
    assert RecipeBook(recipe_dirs(None)).resolve("same").model == "local/model"


def test_user_config_dir_is_searched(write):
    write("xdg/sparkctl/recipes/mine.yaml", "model: user/model\ncontainer: c\n")
    assert RecipeBook(recipe_dirs(None)).resolve("mine").model == "user/model"


def test_shadowing_recipe_can_extend_a_builtin_name_of_another_name(write, tmp_path):
    write("mine/long.yaml", "extends: openai-gpt-oss-120b\nargs: {max-model-len: 8192}\n")
    recipe = RecipeBook(recipe_dirs(str(tmp_path / "mine"))).resolve("long")
    assert recipe.model == "openai/gpt-oss-120b"
    assert recipe.args["max-model-len"] == 8192


def test_names_lists_each_recipe_once(write, tmp_path):
    write("mine/openai-gpt-oss-120b.yaml", "model: my/model\ncontainer: c\n")
    names = RecipeBook(recipe_dirs(str(tmp_path / "mine"))).names()
    assert names.count("openai-gpt-oss-120b") == 1
    assert names == sorted(names)
