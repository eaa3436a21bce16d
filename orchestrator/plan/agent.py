"""Coding-agent backends (Claude Code): the check `up` adds that the Anthropic Messages API answers, tools on."""

from __future__ import annotations

import json

from orchestrator.config.inventory import Node
from orchestrator.plan import probes
from orchestrator.plan.data import Phase, Step
from orchestrator.plan.templates import render

MESSAGES_TIMEOUT = 60
# Claude Code offers tools on every request; vLLM refuses them unless the tool-call flags are set.
PROBE_TOOL = {"name": "ping", "description": "Answer a ping.",
              "input_schema": {"type": "object", "properties": {"reply": {"type": "string"}}}}


def messages_body(served_name: str) -> str:
    """The smallest Messages request that offers a tool, as a coding agent's would."""
    return json.dumps({"model": served_name, "max_tokens": 1, "tools": [PROBE_TOOL],
                       "messages": [{"role": "user", "content": "ping"}]}, separators=(",", ":"))


def messages_check(nodes: tuple[Node, ...], port: int, served_name: str, key_env: str,
                   templates_dir: str | None = None) -> Phase:
    """One Messages request per serving node; an answer other than a message fails `up` with vLLM's words."""
    script = render("messages_probe", templates_dir, key_env=key_env, timeout=MESSAGES_TIMEOUT,
                    body=messages_body(served_name), url=f"{probes.local_url(port)}/v1/messages")
    steps = tuple(Step(n.name, "check the Anthropic Messages API (/v1/messages) with a tool offered", script,
                       MESSAGES_TIMEOUT + 10, secrets=(key_env,)) for n in nodes)
    return Phase("agent-api", "Coding-agent API", steps)
