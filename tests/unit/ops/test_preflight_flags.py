"""The recipe's flags checked against the image's own `vllm serve --help=all`, before anything starts."""

from __future__ import annotations

import pytest

from orchestrator.config.recipe import Recipe
from orchestrator.errors import ConfigError
from orchestrator.ops.preflight import check_image_flags, check_model_cache, unknown_flags, unread_env
from orchestrator.remote.executor import Report
from orchestrator.remote.transport import Result

IMAGE_FLAGS = {"--max-model-len", "--enforce-eager", "--no-enforce-eager", "--gpu-memory-utilization",
               "--tensor-parallel-size", "--compilation-config", "--moe-backend"}


def recipe(**args) -> Recipe:
    return Recipe.model_validate({"name": "r", "model": "m", "container": "vllm-node", "args": args})


def test_a_flag_the_image_lacks_is_named_with_a_close_match():
    assert unknown_flags(recipe(**{"swap-space": 4, "max-model-len": 4096}), IMAGE_FLAGS) == ["--swap-space"]
    assert unknown_flags(recipe(**{"max-model-lenn": 4096}), IMAGE_FLAGS) == [
        "--max-model-lenn (did you mean --max-model-len?)"]


def test_known_flags_pass_whatever_their_values():
    args = {"enforce-eager": True, "compilation-config": {"mode": 3}, "tensor-parallel-size": 2}
    assert unknown_flags(recipe(**args), IMAGE_FLAGS) == []


def _preflight(flags: str) -> Report:
    report = Report()
    report.results["preflight"] = [Result("spark1", 0, f"image_layers=abc\nvllm_flags={flags}\n", "", 0.1)]
    return report


def test_preflight_refuses_in_the_recipes_words():
    with pytest.raises(ConfigError, match=r"recipe 'r' \(<memory>\): the vLLM in image vllm-node has no --swap-space"):
        check_image_flags(_preflight(" ".join(sorted(IMAGE_FLAGS))), recipe(**{"swap-space": 4}))


def test_an_image_whose_help_could_not_be_read_is_not_refused():
    check_image_flags(_preflight("unknown"), recipe(**{"swap-space": 4}))


def test_a_model_missing_on_a_node_is_refused_with_the_fix():
    report = Report()
    report.results["preflight"] = [Result("spark1", 0, "model=unverified\n", "", 0.1),
                                   Result("spark2", 0, "model=missing\n", "", 0.1)]
    with pytest.raises(ConfigError, match=r"not whole in the Hugging Face cache on spark2 \(missing\).*models sync"):
        check_model_cache(report, recipe())


def test_a_model_present_everywhere_passes():
    report = Report()
    report.results["preflight"] = [Result("spark1", 0, "model=ok\n", "", 0.1)]
    check_model_cache(report, recipe())


def test_a_vllm_variable_the_image_does_not_read_is_named():
    report = Report()
    report.results["preflight"] = [Result("spark1", 0, "vllm_env=VLLM_API_KEY VLLM_USE_DEEP_GEMM\n", "", 0.1)]
    env = {"VLLM_USE_DEEP_GEMM": "0", "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "1", "TIKTOKEN_RS_CACHE_DIR": "/x"}
    r = Recipe.model_validate({"name": "r", "model": "m", "container": "vllm-node", "env": env})
    assert unread_env(report, r) == ["VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8"]
