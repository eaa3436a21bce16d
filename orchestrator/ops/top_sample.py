"""What one `top` sample of a node says: memory, containers, vLLM's metrics; and rates between two samples."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.remote.transport import Result

SAMPLE_LINE = re.compile(r"^(?P<name>[A-Za-z_:][\w:]*)(?P<labels>\{.*\})?\s+(?P<value>\S+)(?:\s+\S+)?$")
RFC3339 = re.compile(r"^(?P<base>[^.Z+]+)(?:\.(?P<fraction>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)$")
KV_NAMES = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
COUNTERS = {"prompt": "vllm:prompt_tokens_total", "generation": "vllm:generation_tokens_total"}


@dataclass
class NodeSample:
    """One node at one instant (its own clock)."""

    node: str
    at: float = 0.0
    mem_available_kb: int | None = None
    cached_kb: int | None = None
    containers: list[dict] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    scrape_errors: dict[str, str] = field(default_factory=dict)


def parse_sample(result: Result) -> NodeSample:
    """Read the top_node script's output."""
    sample = NodeSample(result.node)
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        if key == "now":
            sample.at = float(value)
        elif key == "meminfo_MemAvailable":
            sample.mem_available_kb = int(value)
        elif key == "meminfo_Cached":
            sample.cached_kb = int(value)
        elif key == "container":
            sample.containers.append(json.loads(value))
        elif key == "metric":
            _add_metric(sample, value)
        elif key == "scrape_failed":
            name, _, why = value.partition(" ")
            sample.scrape_errors[name] = why.strip() or "no answer"
    return sample


def _add_metric(sample: NodeSample, value: str) -> None:
    """One exposition line; samples of one name (one per engine) add up."""
    container, _, text = value.partition(" ")
    match = SAMPLE_LINE.match(text.strip())
    if match:
        found = sample.metrics.setdefault(container, {})
        found[match["name"]] = found.get(match["name"], 0.0) + float(match["value"])


def started_epoch(text: str) -> float | None:
    """Seconds since the epoch of docker's StartedAt (RFC 3339, nanoseconds); None if it never started."""
    match = RFC3339.match(text or "")
    if not match or text.startswith("0001-"):
        return None
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match["zone"] == "Z" else match["zone"]
    return datetime.fromisoformat(f"{match['base']}.{fraction}{zone}").timestamp()


def container_row(sample: NodeSample, container: dict) -> dict:
    """A container's state, uptime (node clock) and restarts."""
    labels = container.get("labels") or {}
    started = started_epoch(container.get("started", ""))
    running = container.get("state") == "running"
    return {"name": container.get("name", "").lstrip("/"), "deployment": labels.get("sparkctl.deployment", ""),
            "role": labels.get("sparkctl.role", ""), "state": container.get("state", ""),
            "uptime_s": round(sample.at - started, 1) if running and started and sample.at else None,
            "restarts": container.get("restarts")}


def node_row(sample: NodeSample) -> dict:
    """The node's memory and its containers."""
    kib = lambda value: value * 1024 if value is not None else None  # noqa: E731
    return {"node": sample.node, "mem_available_bytes": kib(sample.mem_available_kb),
            "page_cache_bytes": kib(sample.cached_kb), "containers": [container_row(sample, c) for c in sample.containers]}


def server_rows(sample: NodeSample, previous: NodeSample | None) -> list[dict]:
    """Each serving vLLM container's metrics, with token rates since the previous sample of its node."""
    rows = []
    by_name = {c.get("name", "").lstrip("/"): c for c in sample.containers}
    for name in sorted(set(sample.metrics) | set(sample.scrape_errors)):
        labels = (by_name.get(name) or {}).get("labels") or {}
        values = sample.metrics.get(name, {})
        row = {"deployment": labels.get("sparkctl.deployment", ""), "node": sample.node, "container": name,
               "role": labels.get("sparkctl.role", ""), "model": labels.get("sparkctl.served-name", ""),
               "running": values.get("vllm:num_requests_running"), "waiting": values.get("vllm:num_requests_waiting"),
               "kv_cache_usage": next((values[k] for k in KV_NAMES if k in values), None)}
        for short, metric in COUNTERS.items():
            row[f"{short}_tokens_total"] = values.get(metric)
            row[f"{short}_tokens_per_s"] = _rate(sample, previous, name, metric)
        if name in sample.scrape_errors:
            row["error"] = sample.scrape_errors[name]
        rows.append(row)
    return rows


def _rate(sample: NodeSample, previous: NodeSample | None, container: str, metric: str) -> float | None:
    """A counter's increase per second between two samples; None without one, or after a restart reset it."""
    if previous is None or sample.at <= previous.at:
        return None
    now, before = sample.metrics.get(container, {}).get(metric), previous.metrics.get(container, {}).get(metric)
    if now is None or before is None or now < before:
        return None
    return round((now - before) / (sample.at - previous.at), 1)
