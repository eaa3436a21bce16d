"""Each lint rule: a recipe that breaks it, one that does not; the built-in catalog lints clean."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.config import rules
from orchestrator.config.book import RecipeBook
from orchestrator.config.recipe import Recipe, merge
from orchestrator.errors import ConfigError

CLEAN: dict[str, Any] = {
    "name": "clean",
    "model": "org/some-model",
    "container": "vllm-node",
    "args": {"gpu-memory-utilization": 0.85},
    "env": {},
}
GPT_OSS = {"model": "openai/gpt-oss-120b", "container": "vllm-node-mxfp4",
           "env": {"VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "1", "TIKTOKEN_RS_CACHE_DIR": "/root/.cache/tiktoken_rs"}}
TP2 = {"args": {"tensor-parallel-size": 2, "enforce-eager": True}}
QWEN_NEXT = {"model": "Qwen/Qwen3-Next-80B-A3B-Instruct-FP8", "args": {"trust-remote-code": True},
             "env": {"VLLM_USE_DEEP_GEMM": "0"}}

# rule id -> (overrides that break it, overrides that are the fix)
CASES: dict[str, tuple[dict, dict]] = {
    "enforce-eager-tp": (
        merge(GPT_OSS, {"args": {"tensor-parallel-size": 2, "max-model-len": 32768, "gpu-memory-utilization": 0.7}}),
        merge(GPT_OSS, merge(TP2, {"args": {"max-model-len": 32768, "gpu-memory-utilization": 0.7}}))),
    "mxfp4-lm-head-tp": (
        merge(TP2, {"args": {"mxfp4-layers": "moe,qkv,o,lm_head"}}),
        merge(TP2, {"args": {"mxfp4-layers": "moe,qkv,o"}})),
    "mxfp4-memory": (
        {"container": "vllm-node-mxfp4", "args": {"gpu-memory-utilization": 0.95}},
        {"container": "vllm-node-mxfp4", "args": {"gpu-memory-utilization": 0.90}}),
    "gpu-memory-high": (
        {"args": {"gpu-memory-utilization": 0.95}},
        {"args": {"gpu-memory-utilization": 0.90}}),
    "gpt-oss-solo-context": (
        merge(GPT_OSS, {"args": {"gpu-memory-utilization": 0.9, "max-model-len": 131072}}),
        merge(GPT_OSS, {"args": {"gpu-memory-utilization": 0.9, "max-model-len": 4096}})),
    "long-context-memory": (
        merge(TP2, {"args": {"max-model-len": 131072, "gpu-memory-utilization": 0.85}}),
        merge(TP2, {"args": {"max-model-len": 131072, "gpu-memory-utilization": 0.75}})),
    "gpt-oss-flashinfer-mxfp4": (
        merge(GPT_OSS, {"args": {"max-model-len": 4096, "gpu-memory-utilization": 0.9},
                        "env": {"VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "0"}}),
        merge(GPT_OSS, {"args": {"max-model-len": 4096, "gpu-memory-utilization": 0.9}})),
    "gpt-oss-tiktoken-cache": (
        merge(GPT_OSS, {"args": {"max-model-len": 4096, "gpu-memory-utilization": 0.9},
                        "env": {"TIKTOKEN_RS_CACHE_DIR": None}}),
        merge(GPT_OSS, {"args": {"max-model-len": 4096, "gpu-memory-utilization": 0.9}})),
    "qwen3-next-remote-code": (
        merge(QWEN_NEXT, {"args": {"trust-remote-code": None}}),
        QWEN_NEXT),
    "qwen3-next-deep-gemm": (
        merge(QWEN_NEXT, {"env": {"VLLM_USE_DEEP_GEMM": "1"}}),
        QWEN_NEXT),
    "qwen3-next-flashinfer-moe": (
        merge(QWEN_NEXT, {"env": {"VLLM_USE_FLASHINFER_MOE_FP8": "1"}}),
        QWEN_NEXT),
    "tool-choice-parser": (
        {"args": {"enable-auto-tool-choice": True}},
        {"args": {"enable-auto-tool-choice": True, "tool-call-parser": "hermes"}}),
    "secret-in-recipe": (
        {"env": {"HF_TOKEN": "hf_abc"}},
        {"env": {"HF_HOME": "/root/.cache/huggingface"}}),
    "benchmark-framework": (
        {"benchmark": {"framework": "guidellm"}},
        {"benchmark": {"framework": "llama-benchy"}}),
}


def _recipe(overrides: dict) -> Recipe:
    return Recipe.model_validate(merge(CLEAN, overrides))


def _ids(recipe: Recipe) -> set[str]:
    return {finding.rule for finding in rules.lint(recipe)}


def test_every_rule_has_a_case():
    assert set(CASES) == {rule.id for rule in rules.RULES}


def test_rule_ids_are_unique():
    ids = [rule.id for rule in rules.RULES]
    assert len(ids) == len(set(ids))


def test_clean_recipe_breaks_nothing():
    assert rules.lint(_recipe({})) == []


@pytest.mark.parametrize("rule_id", list(CASES))
def test_broken_recipe_is_flagged(rule_id):
    assert rule_id in _ids(_recipe(CASES[rule_id][0]))


@pytest.mark.parametrize("rule_id", list(CASES))
def test_fixed_recipe_is_not_flagged(rule_id):
    assert rule_id not in _ids(_recipe(CASES[rule_id][1]))


def test_errors_keeps_only_error_severity():
    findings = rules.lint(_recipe({"args": {"gpu-memory-utilization": 0.95, "enable-auto-tool-choice": True}}))
    assert {f.rule for f in findings} == {"gpu-memory-high", "tool-choice-parser"}
    assert [f.rule for f in rules.errors(findings)] == ["tool-choice-parser"]


def test_every_builtin_recipe_lints_clean(builtin_book):
    for name in builtin_book.names():
        assert rules.lint(builtin_book.resolve(name)) == [], name


@pytest.mark.parametrize(("key", "value"), [("gpu-memory-utilization", "abc"), ("max-model-len", "lots"),
                                            ("tensor-parallel-size", "two")])
def test_non_numeric_arg_is_a_config_error_not_a_crash(write, tmp_path, key, value):
    """A numeric arg written as text gives a ConfigError naming file and key, not a ValueError traceback."""
    write("r/bad.yaml", f"""
        model: openai/gpt-oss-120b
        container: vllm-node
        args:
          {key}: {value}
        """)
    with pytest.raises(ConfigError) as caught:
        rules.lint(RecipeBook([tmp_path / "r"]).resolve("bad"))
    assert "bad.yaml" in str(caught.value) and key in str(caught.value)


def test_enforce_eager_is_the_mxfp4_gpt_oss_builds_lesson_not_every_clusters():
    other = Recipe.model_validate(merge(CLEAN, {"args": {"tensor-parallel-size": 2}}))
    assert "enforce-eager-tp" not in [f.rule for f in rules.lint(other)]


def test_every_rule_names_its_scope_and_evidence():
    for rule in rules.RULES:
        assert rule.scope and rule.evidence, rule.id
