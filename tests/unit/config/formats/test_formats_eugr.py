"""eugr v1 recipes: rendered like run-recipe.py, read into native recipes, refused when they cannot be honoured."""

from __future__ import annotations

import pytest

from orchestrator.config.formats.detect import to_native
from orchestrator.config.formats.eugr import eugr_serve_argv, render_command
from orchestrator.errors import ConfigError

TEMPLATE = "eugr/recipes/qwen3-30b-template.yaml"
SOLO_MOD = "eugr/recipes/nano-solo-mod.yaml"


def test_template_fills_placeholders_from_defaults_and_maps_every_flag(load):
    data, path = load(TEMPLATE)
    native, notes = to_native(data, path)
    assert native["model"] == "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8"
    assert native["api_port"] == 8123 and native["served_name"] == "qwen3-30b"
    assert native["args"] == {
        "tensor-parallel-size": 2, "gpu-memory-utilization": 0.75, "max-model-len": 32768,
        "enable-auto-tool-choice": True, "tool-call-parser": "hermes", "kv-cache-dtype": "auto",
        "compilation-config": {"cudagraph_mode": "FULL_DECODE_ONLY"},
        "speculative-config": {"method": "ngram", "num_speculative_tokens": 4},
    }
    assert native["env"] == {"VLLM_USE_DEEP_GEMM": "0", "TIKTOKEN_RS_CACHE_DIR": "/root/.cache/tiktoken_rs"}
    assert "topologies" not in native
    assert any("--host" in n and "not applicable" in n for n in notes)
    assert any("--distributed-executor-backend" in n for n in notes)


def test_overrides_and_solo_change_the_rendering_like_eugr(load):
    data, path = load(TEMPLATE)
    native, _ = to_native(data, path, topology="solo", overrides={"max_model_len": 8192})
    assert native["args"]["tensor-parallel-size"] == 1
    assert native["args"]["max-model-len"] == 8192
    with pytest.raises(ConfigError, match="override gpu: eugr's runner overrides only"):
        to_native(data, path, overrides={"gpu": 1})


def test_solo_rendering_cuts_the_backend_flag_and_its_emptied_line(load):
    data, path = load(TEMPLATE)
    solo = render_command(data, path, "solo")
    assert "--distributed-executor-backend" not in solo
    assert "-tp 1" in solo and "\n      \\\n" not in solo


def test_serve_argv_per_topology(load):
    data, path = load(TEMPLATE)
    solo = eugr_serve_argv(data, path, "solo")
    assert solo[:3] == ["vllm", "serve", "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8"]
    assert solo[solo.index("-tp") + 1] == "1" and "--distributed-executor-backend" not in solo
    ray = eugr_serve_argv(data, path, "cluster")
    assert ray.count("--distributed-executor-backend") == 1 and ray[ray.index("-tp") + 1] == "2"
    no_ray = eugr_serve_argv(data, path, "cluster", ray=False, head_ip="10.0.0.1")
    assert "--distributed-executor-backend" not in no_ray
    assert no_ray[-8:] == ["--nnodes", "2", "--node-rank", "0", "--master-addr", "10.0.0.1", "--master-port", "29501"]


def test_solo_only_recipe_with_a_mod(load):
    data, path = load(SOLO_MOD)
    native, notes = to_native(data, path)
    mod = path.parents[1] / "mods" / "fix-tool-parser"
    assert native["mods"] == [str(mod.resolve())]
    assert (mod / "run.sh").read_text().count("WORKSPACE_DIR") == 1
    assert native["topologies"] == ["solo", "replicas"]
    assert native["args"]["tool-parser-plugin"] == "nano_tools.py"
    assert any(n.startswith("not applicable: build_args") and "does not build images" in n for n in notes)
    with pytest.raises(ConfigError, match="solo_only: the recipe requires solo mode"):
        to_native(data, path, topology="cluster")


EUGR_HEAD = 'recipe_version: "1"\nname: t\ncontainer: vllm-node\n'


@pytest.mark.parametrize(("body", "key", "reason"), [
    ("command: vllm serve m --max-model-len {max_len}\n", "command", "placeholder {max_len} has no value"),
    ("command: vllm serve m; echo done\n", "command", "shell operator ';'"),
    ("command: vllm serve m --chat-template $WORKSPACE_DIR/t.jinja\n", "command", "shell expansion '\\$'"),
    ("command: |\n  vllm serve m\n  vllm serve n\n", "command", "several commands"),
    ("command: python3 -m vllm.entrypoints.openai.api_server\n", "command", "start with 'vllm serve'"),
    ("command: vllm serve m --port 1 --port 2\n", "command --port", "more than once"),
    ("command: vllm serve m --nnodes 2\n", "command --nnodes", "rendezvous flag"),
    ("command: vllm serve m -x 3\n", "command", "short option"),
    ("command: vllm serve /models/local\n", "command", "local path"),
    ("command: vllm serve m\nenv: {A: \"$HOME/x\"}\n", "env.A", "bash would interpret"),
    ("command: vllm serve m\nmods: [mods/missing]\n", "mods\\[0\\]", "not found"),
    ("command: vllm serve m -tp 2\nsolo_only: true\n", "command", "TP x PP = 2"),
])
def test_malformed_eugr_recipes_are_refused_with_file_and_key(write, body, key, reason):
    data, path = write("recipes/bad.yaml", EUGR_HEAD + body)
    with pytest.raises(ConfigError, match=f"^{path}: {key}: .*{reason}"):
        to_native(data, path)


def test_missing_required_key_is_refused(write):
    data, path = write("bad.yaml", 'recipe_version: "1"\nname: t\ncommand: vllm serve m\n')
    with pytest.raises(ConfigError, match=f"^{path}: container: missing"):
        to_native(data, path)


def test_tensor_parallel_left_to_the_solo_run_defaults_to_solo(write):
    data, path = write("r.yaml", EUGR_HEAD + "command: vllm serve m -tp {tensor_parallel}\n")
    native, notes = to_native(data, path)
    assert native["args"] == {"tensor-parallel-size": 1}
    assert "mapped: imported for topology solo" in notes
    with pytest.raises(ConfigError, match="placeholder {tensor_parallel} has no value"):
        to_native(data, path, topology="cluster")
