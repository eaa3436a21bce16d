"""The `vllm serve` command line: the real flag names, types and choices the stand-in accepts."""

from __future__ import annotations

import argparse
import json
import re

VLLM_VERSION = "0.10.2"
DEFAULT_MAX_MODEL_LEN = 131072
BOOLEAN_FLAGS = (
    "enforce-eager",
    "enable-chunked-prefill",
    "enable-prefix-caching",
    "trust-remote-code",
    "async-scheduling",
    "enable-expert-parallel",
    "disable-custom-all-reduce",
    "enable-sleep-mode",
    "calculate-kv-scales",
    "disable-sliding-window",
    "enable-lora",
    "skip-tokenizer-init",
)
STORE_TRUE_FLAGS = (
    "headless",
    "enable-auto-tool-choice",
    "disable-log-requests",
    "enable-log-requests",
    "disable-log-stats",
    "disable-fastapi-docs",
    "enable-prompt-tokens-details",
    "disable-frontend-multiprocessing",
    "enable-server-load-tracking",
    "enable-force-include-usage",
    "enable-log-outputs",
)
STRING_FLAGS = (
    "host",
    "tokenizer",
    "revision",
    "tokenizer-revision",
    "download-dir",
    "api-key",
    "tool-call-parser",
    "reasoning-parser",
    "mxfp4-layers",
    "master-addr",
    "chat-template",
    "chat-template-content-format",
    "hf-config-path",
    "hf-overrides",
    "override-generation-config",
    "generation-config",
    "root-path",
    "ssl-keyfile",
    "ssl-certfile",
    "uvicorn-log-level",
    "data-parallel-address",
    "allowed-local-media-path",
    "tool-parser-plugin",
    "code-revision",
    "config-format",
    "tokenizer-mode",
    "response-role",
    "structured-outputs-config",
    "kv-transfer-config",
    "middleware",
    "lora-modules",
)
INT_FLAGS = (
    "port",
    "max-num-seqs",
    "max-num-batched-tokens",
    "seed",
    "nnodes",
    "node-rank",
    "master-port",
    "max-seq-len-to-capture",
    "max-logprobs",
    "block-size",
    "data-parallel-size-local",
    "data-parallel-rpc-port",
    "data-parallel-start-rank",
    "max-parallel-loading-workers",
    "max-log-len",
    "api-server-count",
    "max-num-partial-prefills",
    "max-long-partial-prefills",
    "long-prefill-token-threshold",
)
FLOAT_FLAGS = ("gpu-memory-utilization", "swap-space", "cpu-offload-gb")
JSON_FLAGS = ("speculative-config", "limit-mm-per-prompt", "mm-processor-kwargs")
QUANTIZATIONS = (
    "aqlm",
    "awq",
    "deepspeedfp",
    "tpu_int8",
    "fp8",
    "ptpc_fp8",
    "fbgemm_fp8",
    "modelopt",
    "modelopt_fp4",
    "bitblas",
    "gguf",
    "gptq_marlin_24",
    "gptq_marlin",
    "gptq_bitblas",
    "awq_marlin",
    "gptq",
    "compressed-tensors",
    "bitsandbytes",
    "hqq",
    "experts_int8",
    "ipex",
    "quark",
    "moe_wna16",
    "torchao",
    "auto-round",
    "rtn",
    "inc",
    "mxfp4",
    "petit_nvfp4",
    "marlin",
    "fp_quant",
    "gpt_oss_mxfp4",
)


def model_length(text: str) -> int:
    """Parse a context length the way vLLM does: an integer, or with a k/m suffix (`32k`)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"invalid length: {text!r}")
    scale = {"": 1, "k": 1000, "K": 1024, "m": 1000**2, "M": 1024**2}[match.group(2)]
    return int(float(match.group(1)) * scale)


def json_value(text: str) -> object:
    """Parse a JSON-valued flag, as vLLM's config flags require."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"invalid JSON {text!r}: {error}") from error


def compilation_level(text: str) -> object:
    """Accept an optimisation level (`3`) or a JSON compilation config."""
    return int(text) if text.isdigit() else json_value(text)


def add_typed_flags(parser: argparse.ArgumentParser) -> None:
    """Register the plainly typed flags from the tables above."""
    for name in BOOLEAN_FLAGS:
        parser.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=None)
    for name in STORE_TRUE_FLAGS:
        parser.add_argument(f"--{name}", action="store_true")
    for names, kind in (
        (STRING_FLAGS, str),
        (INT_FLAGS, int),
        (FLOAT_FLAGS, float),
        (JSON_FLAGS, json_value),
    ):
        for name in names:
            parser.add_argument(f"--{name}", type=kind)


def add_special_flags(parser: argparse.ArgumentParser) -> None:
    """Register flags with short forms, choices or defaults."""
    parser.add_argument("model_tag", nargs="?", help="the model to serve")
    parser.add_argument("--model", dest="model_flag")
    parser.add_argument("--served-model-name", nargs="+")
    parser.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    parser.add_argument("--pipeline-parallel-size", "-pp", type=int, default=1)
    parser.add_argument("--data-parallel-size", "-dp", type=int, default=1)
    parser.add_argument("--distributed-executor-backend", choices=["ray", "mp", "uni", "external_launcher"])
    parser.add_argument("--max-model-len", type=model_length)
    parser.add_argument("--quantization", "-q", choices=QUANTIZATIONS)
    parser.add_argument("--kv-cache-dtype", choices=["auto", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc"])
    parser.add_argument("--dtype", choices=["auto", "half", "float16", "bfloat16", "float", "float32"])
    parser.add_argument(
        "--load-format",
        choices=[
            "auto",
            "pt",
            "safetensors",
            "npcache",
            "dummy",
            "tensorizer",
            "sharded_state",
            "gguf",
            "bitsandbytes",
            "mistral",
            "runai_streamer",
            "runai_streamer_sharded",
            "fastsafetensors",
        ],
    )
    parser.add_argument("--compilation-config", "-O", type=compilation_level)


def build_parser() -> argparse.ArgumentParser:
    """The `vllm serve` parser; unknown flags are errors, exit status 2."""
    parser = argparse.ArgumentParser(
        prog="vllm serve",
        usage="vllm serve [model_tag] [options]",
        description="Start the vLLM OpenAI Compatible API server.",
    )
    add_special_flags(parser)
    add_typed_flags(parser)
    return parser


def normalize_flag_names(argv: list[str]) -> list[str]:
    """vLLM accepts `--max_model_len` for `--max-model-len`; rewrite underscores in flag names."""
    normalized = []
    for arg in argv:
        if arg.startswith("--"):
            name, sep, value = arg.partition("=")
            arg = name.replace("_", "-") + sep + value
        normalized.append(arg)
    return normalized


def parse_serve_args(argv: list[str]) -> argparse.Namespace:
    """Parse `vllm serve` arguments and settle the model and served names."""
    parser = build_parser()
    args = parser.parse_args(normalize_flag_names(argv))
    args.model = args.model_tag or args.model_flag
    if not args.model:
        parser.error("the following arguments are required: model_tag")
    args.served_names = args.served_model_name or [args.model]
    args.max_model_len = args.max_model_len or DEFAULT_MAX_MODEL_LEN
    args.host = args.host or "0.0.0.0"
    args.port = args.port or 8000
    return args


def non_default_args(args: argparse.Namespace) -> dict[str, object]:
    """The arguments that differ from the parser's defaults, for the startup log line."""
    defaults = vars(build_parser().parse_args(["x"]))
    skip = {"model_tag", "model_flag", "served_names", "api_key"}
    return {k: v for k, v in vars(args).items() if k not in skip and defaults.get(k, object()) != v}
