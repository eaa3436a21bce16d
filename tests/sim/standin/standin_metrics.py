"""The engine's counters and gauges, exported on /metrics in the Prometheus text format with vLLM's names.

Requests are admitted up to --max-num-seqs (the rest wait, as in vLLM's scheduler); a running request holds
KV-cache blocks for its whole prompt from admission and for the tokens decoded so far; the token counters
advance as prefill and decode progress, so rates computed between two scrapes match the simulated speeds.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from standin_flags import version_tuple

BLOCK_TOKENS = 16
DEFAULT_MAX_NUM_SEQS = 256
DEFAULT_KV_TOKENS = 262144


@dataclass
class Request:
    """One admitted request's timeline: prefill ends at decode_from, then one token per decode step."""

    prompt_tokens: int
    completion_tokens: int
    decode_from: float
    decode_tps: float

    def generated(self, now: float) -> int:
        """Tokens produced by now: the first when prefill ends, then one per decode step."""
        if now < self.decode_from:
            return 0
        return min(self.completion_tokens, 1 + int((now - self.decode_from) * self.decode_tps))

    def prefilled(self, now: float) -> int:
        """Prompt tokens processed by now (all of them once prefill ended)."""
        return self.prompt_tokens if now >= self.decode_from else 0


@dataclass
class Engine:
    """The scheduler's view: running and waiting requests, KV blocks, token counters."""

    max_num_seqs: int = DEFAULT_MAX_NUM_SEQS
    kv_tokens: int = DEFAULT_KV_TOKENS
    running: list[Request] = field(default_factory=list)
    waiting: int = 0
    prompt_done: int = 0
    generation_done: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)

    @contextlib.contextmanager
    def admit(self, prompt_tokens: int, completion_tokens: int, prefill_tps: float,
              decode_tps: float) -> Iterator[Request]:
        """Wait for a free sequence slot, run the request, and count its tokens when it leaves."""
        with self.lock:
            self.waiting += 1
            try:
                # Bounded by the server's lifetime: each running request ends after its own finite work.
                while len(self.running) >= self.max_num_seqs:
                    self.lock.wait(1.0)
            finally:
                self.waiting -= 1
            request = Request(prompt_tokens, completion_tokens,
                              time.monotonic() + prompt_tokens / prefill_tps, decode_tps)
            self.running.append(request)
        try:
            yield request
        finally:
            with self.lock:
                now = time.monotonic()
                self.running.remove(request)
                self.prompt_done += request.prefilled(now)
                self.generation_done += request.generated(now)
                self.lock.notify()

    def snapshot(self) -> dict[str, float]:
        """The values /metrics reports right now."""
        now = time.monotonic()
        with self.lock:
            # The scheduler allocates a running request's prompt blocks when it admits it, before prefill runs.
            blocks = sum(math.ceil((r.prompt_tokens + r.generated(now)) / BLOCK_TOKENS) for r in self.running)
            return {
                "running": len(self.running),
                "waiting": self.waiting,
                "kv_usage": min(1.0, blocks * BLOCK_TOKENS / self.kv_tokens),
                "prompt": self.prompt_done + sum(r.prefilled(now) for r in self.running),
                "generation": self.generation_done + sum(r.generated(now) for r in self.running),
            }


def exposition(engine: Engine, model_name: str, vllm_version: str) -> str:
    """The metrics in the Prometheus text format, labelled the way vLLM's v1 engine labels them."""
    values = engine.snapshot()
    labels = f'{{model_name="{model_name}",engine="0"}}'
    kv_name = "kv_cache_usage_perc" if version_tuple(vllm_version) >= (0, 9) else "gpu_cache_usage_perc"
    metrics = (
        ("num_requests_running", "gauge", "Number of requests in model execution batches.", values["running"]),
        ("num_requests_waiting", "gauge", "Number of requests waiting to be processed.", values["waiting"]),
        (kv_name, "gauge", "KV-cache usage. 1 means 100 percent usage.", values["kv_usage"]),
        ("prompt_tokens", "counter", "Number of prefill tokens processed.", values["prompt"]),
        ("generation_tokens", "counter", "Number of generation tokens processed.", values["generation"]),
    )
    lines = []
    for name, kind, help_text, value in metrics:
        sample = f"vllm:{name}_total" if kind == "counter" else f"vllm:{name}"
        lines += [f"# HELP {sample} {help_text}", f"# TYPE {sample} {kind}", f"{sample}{labels} {float(value)}"]
    return "\n".join(lines) + "\n"
