"""A stand-in for `vllm serve`: real flags, Ray placement, a timed load, then an OpenAI-compatible API.

Environment: VLLM_STANDIN_TABLE (the vLLM whose flags it follows, standin_flags.py), VLLM_STANDIN_STRICT
(`flags`, `model` or `all`: standin_flags.py, standin_model.py), VLLM_STANDIN_DOWNLOAD_BPS,
VLLM_STANDIN_LOAD_SECONDS (2), VLLM_STANDIN_PREFILL_TPS (2000), VLLM_STANDIN_DECODE_TPS (50),
VLLM_STANDIN_FAULT (crash-during-load | crash-after:N | never-ready | slow-start:N),
VLLM_STANDIN_HITS_FILE (one line per completion request), VLLM_STANDIN_GPUS (1 per node),
VLLM_STANDIN_KV_TOKENS (the KV cache's size in tokens, 262144).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import standin_stall
from standin_api import ServerState, make_server
from standin_dist import check_parallelism, env_float
from standin_flags import (
    VLLM_VERSION,
    check_environment,
    image_table,
    non_default_args,
    parse_serve_args,
    strict_modes,
    top_usage,
)
from standin_log import fail, log
from standin_metrics import DEFAULT_KV_TOKENS, DEFAULT_MAX_NUM_SEQS, Engine
from standin_model import Snapshot, fetch_config, load_weights
from standin_nccl import decode_tps
from standin_rendezvous import join_ranks

NEVER_READY_CAP_S = 86400.0
LOAD_STEPS = 5


@dataclass
class Fault:
    """A failure the test asked for: its kind and its seconds, if any."""

    kind: str = ""
    seconds: float = 0.0


def parse_fault(text: str) -> Fault:
    """Read VLLM_STANDIN_FAULT; an unknown value stops the stand-in at once."""
    kind, _, seconds = text.strip().partition(":")
    if kind in ("", "crash-during-load", "never-ready") and not seconds:
        return Fault(kind)
    if kind in ("crash-after", "slow-start") and seconds:
        return Fault(kind, float(seconds))
    sys.exit(f"vllm stand-in: unknown VLLM_STANDIN_FAULT {text!r}")


def top_level(argv: list[str]) -> int:
    """Handle `vllm` without a serve command: help, version, or argparse's error."""
    subcommands = image_table()["subcommands"]
    usage = top_usage(image_table())
    if not argv or argv[0] in ("-h", "--help"):
        print(f"{usage}\n\nvLLM CLI\n\npositional arguments:\n  {{{','.join(subcommands)}}}", flush=True)
        return 0 if argv else 2
    if argv[0] in ("-v", "--version"):
        print(VLLM_VERSION, flush=True)
        return 0
    choices = ", ".join(f"'{c}'" for c in subcommands)
    print(
        f"{usage}\nvllm: error: argument subparser: invalid choice: '{argv[0]}' (choose from {choices})",
        file=sys.stderr,
        flush=True,
    )
    return 2


def install_signal_handlers() -> None:
    """`docker stop` sends SIGTERM: shut down promptly with status 0, as vLLM does."""

    def stop(signum: int, _frame: object) -> None:
        log("launcher.py:80", "Shutting down FastAPI HTTP server.")
        sys.stdout.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def load_model(args: argparse.Namespace, fault: Fault, snapshot: Snapshot | None = None) -> None:
    """Spend the configured load time logging progress; crash or hang there if told to.

    With a snapshot (VLLM_STANDIN_STRICT=model), the weights are downloaded if missing and checked whole
    first, and the progress counts their shards."""
    seconds = fault.seconds if fault.kind == "slow-start" else env_float("VLLM_STANDIN_LOAD_SECONDS", 2)
    log("gpu_model_runner.py:1953", f"Starting to load model {args.model}...")
    started = time.monotonic()
    steps = len(load_weights(snapshot)) if snapshot else LOAD_STEPS
    if fault.kind == "never-ready":
        time.sleep(NEVER_READY_CAP_S)
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        if fault.kind == "crash-during-load" and step * 2 > steps:
            fail(
                "core.py:700",
                "torch.OutOfMemoryError",
                "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 119.70 GiB "
                "of which 1.12 GiB is free.",
                ["v1/engine/core.py:__init__", "v1/worker/gpu_model_runner.py:load_model"],
            )
        log(
            "default_loader.py:262",
            f"Loading safetensors checkpoint shards: {100 * step // steps:3d}% Completed | {step}/{steps}",
        )
    elapsed = time.monotonic() - started
    log("gpu_model_runner.py:2007", f"Model loading took 60.3 GiB and {elapsed:.6f} seconds")
    log(
        "gpu_worker.py:276",
        f"Available KV cache memory: 40.12 GiB (gpu_memory_utilization={args.gpu_memory_utilization or 0.9})",
    )
    if not args.enforce_eager:
        log("gpu_model_runner.py:2708", "Graph capturing finished in 0 secs, took 0.00 GiB")


def schedule_crash(seconds: float) -> None:
    """Kill the server after it has served a while, with vLLM's engine-death messages."""

    def crash() -> None:
        log(
            "core_client.py:564",
            "Engine core proc EngineCore_0 died unexpectedly, shutting down client.",
            "ERROR",
        )
        fail(
            "async_llm.py:420",
            "vllm.v1.engine.exceptions.EngineDeadError",
            "EngineCore encountered an issue. See stack trace (above) for the root cause.",
            ["v1/engine/async_llm.py:output_handler"],
        )

    timer = threading.Timer(seconds, crash)
    timer.daemon = True
    timer.start()


def server_state(args: argparse.Namespace) -> ServerState:
    """Collect what the HTTP handlers need."""
    hits = os.environ.get("VLLM_STANDIN_HITS_FILE")
    return ServerState(
        served_names=args.served_names,
        model=args.model,
        max_model_len=args.max_model_len,
        api_key=args.api_key or os.environ.get("VLLM_API_KEY") or None,
        prefill_tps=env_float("VLLM_STANDIN_PREFILL_TPS", 2000),
        decode_tps=decode_tps(args),
        hits_file=Path(hits) if hits else None,
        port=args.port,
        started=time.time(),
        engine=Engine(getattr(args, "max_num_seqs", None) or DEFAULT_MAX_NUM_SEQS,
                      int(env_float("VLLM_STANDIN_KV_TOKENS", DEFAULT_KV_TOKENS))),
        auto_tools=bool(getattr(args, "enable_auto_tool_choice", False) and getattr(args, "tool_call_parser", None)),
    )


def serve_api(args: argparse.Namespace, fault: Fault) -> None:
    """Open the port only now that the model is loaded, and serve until killed."""
    try:
        server = make_server(server_state(args), args.host)
    except OSError as error:
        fail(
            "api_server.py:1830",
            "OSError",
            str(error),
            ["entrypoints/openai/api_server.py:create_server_socket"],
        )
    log("api_server.py:1880", f"Starting vLLM API server 0 on http://{args.host}:{args.port}")
    log(
        "launcher.py:36",
        "Available routes are: /health, /version, /metrics, /v1/models, /v1/chat/completions, /v1/completions",
    )
    print(f"INFO:     Started server process [{os.getpid()}]", flush=True)
    print("INFO:     Waiting for application startup.", flush=True)
    print("INFO:     Application startup complete.", flush=True)
    if fault.kind == "crash-after":
        schedule_crash(fault.seconds)
    server.serve_forever(poll_interval=0.2)


def serve(argv: list[str]) -> int:
    """`vllm serve MODEL [flags]`."""
    args = parse_serve_args(argv)
    fault = parse_fault(os.environ.get("VLLM_STANDIN_FAULT", ""))
    install_signal_handlers()
    standin_stall.clear()
    log("__init__.py:216", "Automatically detected platform cuda.")
    log("api_server.py:1805", f"vLLM API server version {VLLM_VERSION}")
    log("utils.py:328", f"non-default args: {non_default_args(args)}")
    check_environment(args.table, bool(args.fail_on_environ_validation))
    snapshot = fetch_config(args) if "model" in strict_modes() else None
    placement = check_parallelism(args)
    if placement is None:
        join_ranks(args)
    if args.headless:
        log("launcher.py:90", f"Launching headless engine (node rank {args.node_rank or 0}); no API server.")
        load_model(args, fault, snapshot)
        time.sleep(NEVER_READY_CAP_S)
        return 0
    load_model(args, fault, snapshot)
    serve_api(args, fault)
    del placement
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch `vllm` subcommands; only `serve` is simulated."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":
        return serve(argv[1:])
    return top_level(argv)


if __name__ == "__main__":
    sys.exit(main())
