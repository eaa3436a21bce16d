"""The write-up's recipe format: args.port, benchmark.enabled and llama-benchy words."""

from __future__ import annotations

import pytest

from orchestrator.config.formats.detect import recipe_format, to_native
from orchestrator.errors import ConfigError


def test_the_writeups_recipe_reads_into_a_native_recipe(load):
    data, path = load("writeup/gpt-oss-120b.yaml")
    assert recipe_format(data) == "writeup"
    native, notes = to_native(data, path)
    assert native["api_port"] == 8000 and "port" not in native["args"]
    assert native["served_name"] == "openai/gpt-oss-120b"
    assert native["args"]["enforce-eager"] is True
    assert native["args"]["mxfp4-layers"] == "moe,qkv,o,lm_head"
    assert native["benchmark"] == {"framework": "llama-benchy", "args": {}, "after_up": True}
    warning = next(n for n in notes if n.startswith("warning:"))
    assert "--num-prompts" in warning and "--concurrency" in warning and "--pp" in warning


def test_known_llama_benchy_flags_map_to_benchmark_args(write):
    data, path = write("w.yaml", "model: m/x\ncontainer: vllm-node\nargs: {port: 9000}\nbenchmark:\n  enabled: false\n"
                                 "  args: ['--pp', '512', '2048', '--tg=32', '--depth', '0', '--runs', '2']\n")
    native, _ = to_native(data, path)
    assert native["api_port"] == 9000
    assert native["benchmark"] == {"framework": "llama-benchy", "args": {"pp": [512, 2048], "tg": [32], "depth": [0],
                                                                         "runs": 2}}


@pytest.mark.parametrize(("bench", "key", "reason"), [
    ("framework: vllm-bench", "benchmark.framework", "llama-benchy only"),
    ("args: ['--runs', 'x']", "benchmark.args --runs", "whole numbers"),
    ("args: ['--base-url', 'http://x']", "benchmark.args --base-url", "sets it itself"),
    ("args: ['--skip-coherence']", "benchmark.args --skip-coherence", "sparkctl bench --skip-coherence"),
    ("args: ['--no-warmup']", "benchmark.args --no-warmup", "does not pass"),
    ("enabled: yes please", "benchmark.enabled", "true or false"),
])
def test_benchmark_sections_that_cannot_be_honoured_are_refused(write, bench, key, reason):
    data, path = write("w.yaml", f"model: m/x\ncontainer: c\nargs: {{port: 8000}}\nbenchmark:\n  enabled: true\n  {bench}\n")
    with pytest.raises(ConfigError, match=f"^{path}: {key}: .*{reason}"):
        to_native(data, path)


def test_unknown_writeup_key_is_refused(write):
    data, path = write("w.yaml", "model: m/x\ncontainer: c\nargs: {port: 8000}\nreplicas: 2\n")
    with pytest.raises(ConfigError, match=f"^{path}: replicas: not a key"):
        to_native(data, path)
