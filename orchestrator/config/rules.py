"""Spark tribal knowledge as lint rules: each says what breaks and how to fix it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from orchestrator.config.recipe import Recipe
from orchestrator.config.values import is_secret_name


class Severity(StrEnum):
    """Errors stop `up` (unless --force); warnings are shown."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    """One gotcha: when `broken(recipe)` is true, `message` says the fix.

    `scope` names the models and images it was learned on, `evidence` where and why: a rule is only as
    general as what it was seen on.
    """

    id: str
    severity: Severity
    message: str
    broken: Callable[[Recipe], bool]
    scope: str
    evidence: str


@dataclass(frozen=True)
class Finding:
    """A rule a recipe breaks."""

    recipe: str
    rule: str
    severity: Severity
    message: str
    scope: str = ""


def _memory(recipe: Recipe) -> float:
    return float(recipe.args.get("gpu-memory-utilization") or 0.92)


def _context(recipe: Recipe) -> int | None:
    value = recipe.args.get("max-model-len")
    return int(value) if value is not None else None


def _is_gpt_oss_120b(recipe: Recipe) -> bool:
    return "gpt-oss-120b" in recipe.model.lower()


def _is_qwen3_next(recipe: Recipe) -> bool:
    return "qwen3-next" in recipe.model.lower()


def _is_mxfp4_gpt_oss(recipe: Recipe) -> bool:
    return "gpt-oss" in recipe.model.lower() and "mxfp4" in recipe.container


def _mxfp4_layers(recipe: Recipe) -> list[str]:
    return [layer.strip() for layer in str(recipe.args.get("mxfp4-layers") or "").split(",")]


RULES: tuple[Rule, ...] = (
    Rule("enforce-eager-tp", Severity.ERROR,
         "gpt-oss on the MXFP4 build crashes in CUDA graph capture with tensor/pipeline parallel across Sparks "
         "(SM121); add 'enforce-eager: true'",
         lambda r: _is_mxfp4_gpt_oss(r) and r.gpus > 1 and not r.args.get("enforce-eager"),
         "gpt-oss models on an mxfp4 image, TP x PP > 1",
         "the recipe-system write-up's cluster recipe; other models and images capture graphs across nodes"),
    Rule("mxfp4-lm-head-tp", Severity.ERROR,
         "lm_head in mxfp4-layers with TP>1 crashes the marlin kernel; use 'mxfp4-layers: moe,qkv,o'",
         lambda r: r.gpus > 1 and "lm_head" in _mxfp4_layers(r),
         "recipes setting mxfp4-layers (the MXFP4 build's flag), TP x PP > 1",
         "the write-up: a sharded MXFP4 lm_head crashes marlin"),
    Rule("mxfp4-memory", Severity.ERROR,
         "gpu-memory-utilization above 0.90 OOMs on the mxfp4 image; set it to 0.90 or less",
         lambda r: "mxfp4" in r.container and _memory(r) > 0.90,
         "mxfp4 images", "the write-up: 0.95 OOMs gpt-oss-120b on one Spark"),
    Rule("gpu-memory-high", Severity.WARNING,
         "gpu-memory-utilization above 0.90 (vLLM's default is 0.92) leaves too little unified memory for the OS "
         "on a Spark; set 0.90 or less",
         lambda r: "mxfp4" not in r.container and _memory(r) > 0.90,
         "every model on other images", "128 GB unified memory shared with the OS and page cache"),
    Rule("gpt-oss-solo-context", Severity.ERROR,
         "gpt-oss-120b on one Spark OOMs at the 131072 default context; set 'max-model-len: 4096' "
         "(or run the cluster recipe for long context)",
         lambda r: _is_gpt_oss_120b(r) and r.gpus == 1 and (_context(r) is None or _context(r) >= 131072),
         "gpt-oss-120b, one Spark", "the write-up's solo recipe"),
    Rule("long-context-memory", Severity.WARNING,
         "131072 context with gpu-memory-utilization above 0.75 OOMs after ~19 h as page cache grows back; "
         "use 0.75 and a periodic 'sparkctl drop-caches --all'",
         lambda r: r.gpus > 1 and (_context(r) or 0) >= 131072 and _memory(r) > 0.75,
         "clusters with 131072 context", "the write-up's production variant: 0.80 crashed after ~19 h"),
    Rule("gpt-oss-flashinfer-mxfp4", Severity.WARNING,
         "gpt-oss on the mxfp4 image is much slower without env VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8: \"1\"",
         lambda r: _is_mxfp4_gpt_oss(r) and r.env.get("VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8") != "1",
         "gpt-oss on mxfp4 images (the MXFP4 fork reads this variable; current vLLM uses --moe-backend)",
         "the write-up's recipes"),
    Rule("gpt-oss-tiktoken-cache", Severity.WARNING,
         "gpt-oss downloads its tiktoken files on every start without env "
         "TIKTOKEN_RS_CACHE_DIR: /root/.cache/tiktoken_rs (a mounted cache)",
         lambda r: "gpt-oss" in r.model.lower() and not r.env.get("TIKTOKEN_RS_CACHE_DIR"),
         "gpt-oss models", "the write-up: harmony encodings are fetched at start otherwise"),
    Rule("qwen3-next-remote-code", Severity.ERROR,
         "Qwen3-Next needs its own modelling code; add 'trust-remote-code: true'",
         lambda r: _is_qwen3_next(r) and not r.args.get("trust-remote-code"),
         "Qwen3-Next models", "the write-up's Qwen3-Next FP8 recipe"),
    Rule("qwen3-next-deep-gemm", Severity.ERROR,
         "DeepGEMM faults on SM121 with Qwen3-Next FP8; set env VLLM_USE_DEEP_GEMM: \"0\"",
         lambda r: _is_qwen3_next(r) and r.env.get("VLLM_USE_DEEP_GEMM") != "0",
         "Qwen3-Next models (the fault is DeepGEMM's FP8 block kernels on SM121)", "the write-up's Qwen3-Next recipe"),
    Rule("qwen3-next-flashinfer-moe", Severity.ERROR,
         "Qwen3-Next breaks with VLLM_USE_FLASHINFER_MOE_FP8 or VLLM_FLASHINFER_MOE_BACKEND; remove them from env",
         lambda r: _is_qwen3_next(r)
         and bool({"VLLM_USE_FLASHINFER_MOE_FP8", "VLLM_FLASHINFER_MOE_BACKEND"} & r.env.keys()),
         "Qwen3-Next models", "the write-up's Qwen3-Next recipe"),
    Rule("tool-choice-parser", Severity.ERROR,
         "vLLM refuses 'enable-auto-tool-choice' without 'tool-call-parser'; add the model's parser",
         lambda r: bool(r.args.get("enable-auto-tool-choice")) and not r.args.get("tool-call-parser"),
         "every model", "vLLM's argument check at start"),
    Rule("secret-in-recipe", Severity.ERROR,
         "a credential is written into the recipe's env; remove it and export it in your shell "
         "(sparkctl forwards HF_TOKEN on stdin, or pass '-e NAME' to forward another)",
         lambda r: any(is_secret_name(key) for key in r.env),
         "every recipe", "recipes are shared and printed in plans; secrets are not"),
    Rule("benchmark-framework", Severity.WARNING,
         "sparkctl benchmarks with llama-benchy; set 'benchmark: {framework: llama-benchy}'",
         lambda r: r.benchmark.framework != "llama-benchy",
         "every recipe", "the only benchmark tool sparkctl runs"),
)


def lint(recipe: Recipe) -> list[Finding]:
    """Every rule the recipe breaks."""
    return [Finding(recipe.name, rule.id, rule.severity, rule.message, rule.scope)
            for rule in RULES if rule.broken(recipe)]


def errors(findings: list[Finding]) -> list[Finding]:
    """Only the findings that stop `up`."""
    return [f for f in findings if f.severity is Severity.ERROR]
