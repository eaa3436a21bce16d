"""sparkrun v2 recipes: include and overrides layers, command or defaults, vLLM runtimes only."""

from __future__ import annotations

import pytest

from orchestrator.config.formats.detect import to_native
from orchestrator.errors import ConfigError


def test_flags_come_from_defaults_when_there_is_no_command(load):
    data, path = load("sparkrun/qwen3-base.yaml")
    native, notes = to_native(data, path)
    assert native["args"]["no-enable-prefix-caching"] is True
    assert native["args"]["speculative-config"] == {"method": "ngram", "num_speculative_tokens": 4}
    assert native["args"]["max-num-seqs"] == 8  # overrides[0] (nodes: 1) matched, overrides[1] (tp >= 2) did not
    assert "my-note" not in native["args"]
    assert any("defaults.my_note" in n for n in notes)
    assert native["description"] == "Qwen3 30B A3B FP8, flags from defaults"


def test_include_merges_a_delta_and_appends_its_overrides(load):
    data, path = load("sparkrun/qwen3-long.yaml")
    native, notes = to_native(data, path)
    assert native["args"]["max-model-len"] == 131072
    assert native["args"]["gpu-memory-utilization"] == 0.85  # its own override, read against declared defaults
    assert native["served_name"] == "qwen3-long"
    assert native["env"] == {"VLLM_USE_DEEP_GEMM": "0", "VLLM_ALLOW_LONG_MAX_MODEL_LEN": "1"}
    assert any(n.startswith("mapped: overrides[2]") for n in notes)


def test_command_template_renders_iteratively_with_literal_braces(load):
    data, path = load("sparkrun/qwen3-command.yaml")
    native, _ = to_native(data, path)
    assert native["args"] == {"max-model-len": 8192, "override-generation-config": '{"temperature": 0.6}'}
    assert native["served_name"] == "qwen3-small" and native["api_port"] == 8001
    assert native["topologies"] == ["solo", "replicas"]


def test_a_runtime_other_than_vllm_is_refused_by_name(load):
    data, path = load("sparkrun/llama-cpp.yaml")
    with pytest.raises(ConfigError, match=f"^{path}: runtime: 'llama-cpp' is not vLLM"):
        to_native(data, path)


@pytest.mark.parametrize(("text", "key", "reason"), [
    ("include: ../elsewhere/base\n", "include", "same directory"),
    ("include: '@official/qwen3'\n", "include", "registry recipe"),
    ("include: missing\n", "include", "not found"),
    ("include: self\n", "include", "cycle"),
    ("overrides:\n  - when: {arch: sm_121}\n    defaults: {max_num_seqs: 4}\n", "overrides\\[0\\].when.arch", "hardware"),
    ("overrides:\n  - when: {nodes: 1}\n    defaults: {port: 9000}\n", "overrides\\[0\\].defaults.port", "refuses"),
    ("overrides:\n  - when: {nodes: 1}\n    command: vllm serve x\n", "overrides\\[0\\].command", "may set only"),
    ("overrides:\n  - when: {runtime: vllm-ray}\n    defaults: {seed: 1}\n", "overrides\\[0\\].when.runtime", "per launch"),
    ("pre_exec: [echo hi]\n", "pre_exec", "hooks"),
    ("env: {HF_TOKEN: '${HF_TOKEN}'}\n", "env.HF_TOKEN", "control machine"),
    ("command: vllm serve {model} --max-model-len {nope}\n", "command", "placeholder {nope}"),
    ("max_nodes: 1\ndefaults: {tensor_parallel: 2}\n", "min_nodes", "outside"),
])
def test_malformed_sparkrun_recipes_are_refused_with_file_and_key(write, text, key, reason):
    data, path = write("self.yaml", "model: m/x\nruntime: vllm\ncontainer: vllm-node\n" + text)
    with pytest.raises(ConfigError, match=f"^{path}: {key}: .*{reason}"):
        to_native(data, path)
