"""The plan `top` runs each refresh: one sample per node (memory, containers, each serving vLLM's /metrics)."""

from __future__ import annotations

from orchestrator.config.inventory import Node
from orchestrator.plan.argv import LABEL
from orchestrator.plan.data import Phase, Plan, Step
from orchestrator.plan.templates import render

SCRAPE_TIMEOUT = 3
SAMPLE_TIMEOUT = 15.0
# vLLM's v1 names; gpu_cache_usage_perc is the KV-cache gauge's name before 0.9 (kept for older images).
METRICS = ("num_requests_running", "num_requests_waiting", "kv_cache_usage_perc", "gpu_cache_usage_perc",
           "prompt_tokens_total", "generation_tokens_total")
GO_CONTAINER = ('{"name":{{json .Name}},"state":{{json .State.Status}},"started":{{json .State.StartedAt}},'
                '"restarts":{{.RestartCount}},"labels":{{json .Config.Labels}}}')
# Serving vLLM containers only (a cluster's head, solo, a replica), with the URL of their own API.
GO_SCRAPE = ('{{.Name}} {{if .State.Running}}{{$r := index .Config.Labels "sparkctl.role"}}'
             '{{if or (eq $r "head") (eq $r "solo") (eq $r "replica")}}'
             '{{or (index .Config.Labels "sparkctl.api") (index .Config.Labels "sparkctl.endpoint")}}{{end}}{{end}}')


def sample_script(templates_dir: str | None = None) -> str:
    """The node-side script of one sample."""
    pattern = "^vllm:(" + "|".join(METRICS) + ")[{ ]"
    return render("top_node", templates_dir, filter=f"label={LABEL}", go_container=GO_CONTAINER, go_scrape=GO_SCRAPE,
                  timeout=SCRAPE_TIMEOUT, pattern=pattern)


def plan_top(nodes: tuple[Node, ...], templates_dir: str | None = None) -> Plan:
    """Sample every node once, in parallel; a node that does not answer is left out, not a failure."""
    script = sample_script(templates_dir)
    steps = tuple(Step(n.name, "sample memory, containers and vLLM metrics", script, SAMPLE_TIMEOUT) for n in nodes)
    return Plan(action="top", phases=(Phase("top", "Sample", steps, tolerant=True),))
