"""Format detection by content, and the shell and vLLM parsing the readers share."""

from __future__ import annotations

import pytest

from orchestrator.config.formats.detect import recipe_format, to_native
from orchestrator.config.formats.shellwords import ShellSyntax, split_words
from orchestrator.config.formats.vllmargs import human_int, parse_serve
from orchestrator.errors import ConfigError


@pytest.mark.parametrize(("data", "kind"), [
    ({"recipe_version": "1", "command": "vllm serve m"}, "eugr-v1"),
    ({"recipe_version": 1, "command": "vllm serve m"}, "eugr-v1"),
    ({"model": "m", "runtime": "vllm", "container": "c"}, "sparkrun-v2"),
    ({"include": "base", "defaults": {"max_model_len": 1}}, "sparkrun-v2"),
    ({"model": "m", "container": "c", "args": {"port": 8000}}, "writeup"),
    ({"model": "m", "container": "c", "benchmark": {"enabled": True}}, "writeup"),
    ({"extends": "base", "args": {"max-model-len": 4096}}, "native"),
    ({"model": "m", "container": "c", "benchmark": {"args": {"pp": [512]}}}, "native"),
    ({"something": 1}, "unknown"),
    (["not", "a", "mapping"], "unknown"),
])
def test_format_is_chosen_by_content(data, kind):
    assert recipe_format(data) == kind


def test_unknown_format_and_misplaced_options_are_refused():
    with pytest.raises(ConfigError, match="^r.yaml: \\(top\\): not a recipe format"):
        to_native({"something": 1}, "r.yaml")
    with pytest.raises(ConfigError, match="apply to eugr v1 recipes only"):
        to_native({"model": "m", "runtime": "vllm", "container": "c"}, "r.yaml", topology="solo")


def test_native_recipes_pass_through():
    native, notes = to_native({"extends": "base", "args": {"max-model-len": 4096}}, "r.yaml")
    assert native == {"extends": "base", "args": {"max-model-len": 4096}} and notes == ["mapped: already a native recipe"]


def test_shell_words_follow_bash_quoting_and_continuations():
    text = "vllm serve m \\\n  --a 'x y' --b \"q\\\"z\" --c=d\\ e   # trailing comment\n"
    assert split_words(text) == ["vllm", "serve", "m", "--a", "x y", "--b", 'q"z', "--c=d e"]


@pytest.mark.parametrize("text", ["a `b`", "a $(b)", "a > f", "a && b", "a *.py", "a {x,y}", "a ~/x", "a 'b", 'a "$B"'])
def test_shell_syntax_is_refused(text):
    with pytest.raises(ShellSyntax):
        split_words(text)


def test_vllm_parsing_matches_vllms_own_rules():
    line = parse_serve(["vllm", "serve", "m", "--max_num_seqs", "8", "-O3", "--seed", "-1", "--max-model-len", "32k",
                        "--compilation-config.pass_config.fuse_x", "true", "-cc.sizes+", "1,2",
                        "--served-model-name", "a", "b", "--enforce-eager"])
    assert line.model == "m"
    assert line.flags == {"max-num-seqs": 8, "optimization-level": 3, "seed": -1, "max-model-len": 32000,
                          "served-model-name": ["a", "b"], "enforce-eager": True,
                          "compilation-config": {"pass_config": {"fuse_x": True}, "sizes": ["1", "2"]}}
    assert human_int("1K") == 1024 and human_int("25.6k") == 25600
    assert parse_serve(["vllm", "serve", "--model", "x"]).model == "x"
