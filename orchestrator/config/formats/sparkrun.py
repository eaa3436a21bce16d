"""sparkrun v2 recipes read into native recipes.

After includes and overrides (sparkrun_layers), a v2 recipe names `model`, `runtime` (only the vLLM family
is accepted), `container`, `defaults` and `env`. With a `command`, `{key}` placeholders are filled from
`defaults` plus `{model}` (repeatedly, so a value may hold a placeholder; `{{`/`}}` are literal braces) and
the `vllm serve` line is read like any other; sparkrun adds `--served-model-name` when only `defaults`
names it. Without a `command`, sparkrun builds the flags from the `defaults` keys it knows (VLLM_KEYS);
others are not passed to vLLM.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from orchestrator.config.formats.base import (
    allowed_topologies,
    env_name,
    one_line,
    plain,
    refuse,
    require_list,
    require_mapping,
    resolve_mod,
)
from orchestrator.config.formats.servemap import line_fields, serve_fields
from orchestrator.config.formats.sparkrun_layers import apply_overrides, resolve_includes
from orchestrator.config.formats.vllmargs import ServeLine

VLLM_RUNTIMES = ("vllm", "vllm-ray", "vllm-distributed")
# defaults keys sparkrun turns into vLLM flags when a recipe has no command (its flag name: dashes for _).
VLLM_KEYS = (
    "port", "host", "tensor_parallel", "gpu_memory_utilization", "max_model_len", "max_num_batched_tokens",
    "max_num_seqs", "served_model_name", "dtype", "quantization", "enforce_eager", "enable_prefix_caching",
    "trust_remote_code", "distributed_executor_backend", "pipeline_parallel", "data_parallel", "kv_cache_dtype",
    "otlp_traces_endpoint", "api_key", "attention_backend", "load_format", "reasoning_parser", "tool_call_parser",
    "chat_template", "speculative_config", "tokenizer_mode", "mm_encoder_tp_mode", "block_size", "seed",
    "enable_auto_tool_choice", "enable_chunked_prefill", "async_scheduling", "generation_config", "hf_overrides",
    "compilation_config", "attention_config", "model_loader_extra_config", "default_chat_template_kwargs",
    "limit_mm_per_prompt", "mm_processor_cache_gb", "kv_cache_memory_bytes", "max_cudagraph_capture_size",
    "long_prefill_token_threshold", "mamba_cache_mode", "safetensors_load_strategy", "moe_backend",
    "enable_prompt_tokens_details", "enable_force_include_usage", "enable_request_id_headers",
    "enable_flashinfer_autotune", "disable_custom_all_reduce",
)
SPECIAL_FLAGS = {"tensor_parallel": "tensor-parallel-size", "pipeline_parallel": "pipeline-parallel-size",
                 "data_parallel": "data-parallel-size"}
BOOL_KEYS = ("enforce_eager", "enable_prefix_caching", "trust_remote_code", "enable_auto_tool_choice",
             "enable_chunked_prefill", "async_scheduling", "enable_prompt_tokens_details", "enable_force_include_usage",
             "enable_request_id_headers", "enable_flashinfer_autotune", "disable_custom_all_reduce")
# Default-on engine features: sparkrun writes --no-<flag> for false.
NEGATABLE = ("enable_prefix_caching", "enable_chunked_prefill", "async_scheduling", "enable_flashinfer_autotune")
INFORMATIONAL = ("metadata", "capabilities", "unsupported_capabilities", "readiness", "runtime_cache",
                 "distribution_config", "benchmark", "builder", "builder_config", "build_args", "sparkrun_version",
                 "recipe_version", "name")
REFUSED = {
    "pre_exec": "sparkctl does not run recipe hooks", "post_exec": "sparkctl does not run recipe hooks",
    "post_commands": "sparkctl does not run recipe hooks", "stop_after_post": "sparkctl does not run recipe hooks",
    "executor": "sparkctl runs vLLM in docker itself", "executor_config": "sparkctl runs vLLM in docker itself",
    "scheduler": "sparkctl places nodes from its inventory", "layout": "sparkctl places nodes from its inventory",
    "cluster_config": "sparkctl places nodes from its inventory",
    "containers": "per-machine images: sparkctl runs one image on every node",
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_REFERENCE = re.compile(r"\$\{?[A-Za-z_]")


def read_sparkrun(data: dict, path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """The native recipe and notes for a sparkrun v2 recipe file."""
    path = Path(path)
    notes: list[str] = []
    data = apply_overrides(resolve_includes(data, path), path, notes)
    _check_keys(data, path, notes)
    _check_runtime(data, path)
    defaults = require_mapping(path, "defaults", data.get("defaults"))
    if data.get("command") is not None:
        fields, serve_notes = serve_fields(render(data, defaults, path), path, "command")
        fields = _fill_served_name(fields, defaults, serve_notes)
    else:
        fields, serve_notes = line_fields(_structured_line(data, defaults, path, notes), path, "defaults", sep=".")
    notes += serve_notes
    native = _native(data, fields, path, notes)
    topologies = _topologies(data, native["args"], path)
    if topologies:
        native["topologies"] = topologies
        notes.append(f"mapped: node limits -> topologies: {topologies}")
    return native, notes


def render(data: dict, defaults: dict, path: Path) -> str:
    """The command with placeholders filled from defaults and model, as sparkrun fills it."""
    if not isinstance(data["command"], str):
        raise refuse(path, "command", "expected the command as text")
    chain = {**defaults, "model": data.get("model")}
    text = data["command"].replace("{{", "\0").replace("}}", "\1")
    for _ in range(10):  # a value may itself hold a placeholder
        missing = [name for name in _PLACEHOLDER.findall(text) if chain.get(name) is None]
        if missing:
            raise refuse(path, "command", f"placeholder {{{missing[0]}}} has no value in defaults")
        rendered = _PLACEHOLDER.sub(lambda m: str(chain[m.group(1)]), text)
        if rendered == text:
            break
        text = rendered
    return text.replace("\0", "{").replace("\1", "}")


def _structured_line(data: dict, defaults: dict, path: Path, notes: list[str]) -> ServeLine:
    line = ServeLine(str(data.get("model") or ""))
    for key, value in defaults.items():
        if key not in VLLM_KEYS:
            notes.append(f"not applicable: defaults.{key}: sparkrun passes no vLLM flag for it either")
            continue
        if value is None or (key in BOOL_KEYS and value is False and key not in NEGATABLE):
            continue
        name = SPECIAL_FLAGS.get(key, key.replace("_", "-"))
        if key in BOOL_KEYS:
            name = name if value is True else f"no-{name}"
            value = True
        elif isinstance(value, list):
            value = json.dumps(value, separators=(",", ":"))  # sparkrun passes lists as one JSON word
        line.flags[name] = value
        line.spelled[name] = key
    return line


def _fill_served_name(fields: dict[str, Any], defaults: dict, notes: list[str]) -> dict[str, Any]:
    if "served_name" not in fields and defaults.get("served_model_name") is not None:
        fields["served_name"] = str(defaults["served_model_name"])
        notes.append(f"mapped: defaults.served_model_name -> served_name: {fields['served_name']} (sparkrun "
                     "appends --served-model-name when the command lacks it)")
    return fields


def _native(data: dict, fields: dict[str, Any], path: Path, notes: list[str]) -> dict[str, Any]:
    native: dict[str, Any] = {}
    description = data.get("description") or (data.get("metadata") or {}).get("description")
    if description:
        native["description"] = one_line(path, "description", description)
    native["model"] = fields["model"]
    if data.get("model_revision"):
        native["revision"] = plain(path, "model_revision", str(data["model_revision"]))
        notes.append(f"mapped: model_revision -> revision: {native['revision']}")
    native.update({key: fields[key] for key in ("revision", "served_name") if key in fields})
    if not data.get("container"):
        raise refuse(path, "container", "missing; name the image (sparkctl does not guess one)")
    native["container"] = plain(path, "container", data["container"])
    if "api_port" in fields:
        native["api_port"] = fields["api_port"]
    native["args"] = fields["args"]
    native["env"] = _env(data, path)
    mods = [resolve_mod(path, f"mods[{i}]", mod, [path.resolve().parent]) if not str(mod).startswith("@")
            else _registry_mod(path, i, mod) for i, mod in enumerate(require_list(path, "mods", data.get("mods")))]
    if mods:
        native["mods"] = mods
    return native


def _registry_mod(path: Path, index: int, mod: str) -> str:
    raise refuse(path, f"mods[{index}]", f"'{mod}' is a sparkrun registry mod; copy it next to the recipe")


def _env(data: dict, path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in require_mapping(path, "env", data.get("env")).items():
        text = str(value)
        if _ENV_REFERENCE.search(text):
            raise refuse(path, f"env.{key}", f"{text!r} is expanded from the control machine's environment by "
                                             "sparkrun; sparkctl does not: write the value, or pass it with -e")
        env[env_name(path, f"env.{key}", key)] = text
    return env


def _check_keys(data: dict, path: Path, notes: list[str]) -> None:
    for key in data:
        if key in REFUSED and data[key] not in (None, [], {}):
            raise refuse(path, key, REFUSED[key])
        if key in INFORMATIONAL:
            notes.append(f"not applicable: {key}: describes the recipe to sparkrun; nothing to deploy")
    runtime_config = require_mapping(path, "runtime_config", data.get("runtime_config"))
    if runtime_config:
        raise refuse(path, f"runtime_config.{next(iter(runtime_config))}", "runtime-specific settings sparkctl "
                                                                           "cannot honour")


def _check_runtime(data: dict, path: Path) -> None:
    runtime = data.get("runtime") or ""
    command = str(data.get("command") or "").strip()
    if runtime and runtime not in VLLM_RUNTIMES:
        raise refuse(path, "runtime", f"'{runtime}' is not vLLM; sparkctl runs vLLM only")
    if not runtime and command and not command.startswith("vllm serve"):
        raise refuse(path, "command", "does not start with 'vllm serve'; sparkctl runs vLLM only")
    if not data.get("model"):
        raise refuse(path, "model", "missing; sparkrun recipes require the model")


def _topologies(data: dict, args: dict[str, Any], path: Path) -> list[str]:
    sizes = [args.get(name, 1) for name in ("tensor-parallel-size", "pipeline-parallel-size")]
    if not all(isinstance(size, int) and not isinstance(size, bool) for size in sizes):
        raise refuse(path, "defaults.tensor_parallel", f"expected whole numbers for TP and PP, got {sizes}")
    nodes = sizes[0] * sizes[1]
    low, high = data.get("min_nodes") or 1, data.get("max_nodes")
    if data.get("solo_only") or data.get("mode") == "solo":
        high = 1
    if data.get("cluster_only") or data.get("mode") == "cluster":
        low = max(low, 2)
    if nodes < low or (high is not None and nodes > high):
        raise refuse(path, "min_nodes", f"TP x PP = {nodes} Sparks is outside the recipe's node range "
                                        f"{low}..{high if high is not None else 'any'}")
    if low == 1 and high is None:
        return []
    return allowed_topologies(solo=low == 1, cluster=high is None or high > 1)
