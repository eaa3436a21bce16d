"""Readiness verdicts from the facts a node-side probe prints."""

from __future__ import annotations

import json
import threading
import time

from orchestrator.config.inventory import Node
from orchestrator.plan import probes
from orchestrator.plan.data import Readiness, Step
from orchestrator.remote.readiness import Depth, probe_shortfall, stopped_container, wait_until_ready
from orchestrator.remote.transport import Result

MODELS = json.dumps({"object": "list", "data": [{"id": "gpt-oss-120b", "object": "model"}]})


def facts(**answers: str) -> dict[str, str]:
    return {f"{name}_{part}": value for name, (code, body) in answers.items() for part, value in
            (("code", code), ("body", body))}


def test_a_refused_connection_names_curls_reason():
    missing = probe_shortfall(facts(health=("000", "curl: (7) Failed to connect to 127.0.0.1 port 8000")), "m")
    assert missing == "/health not answering yet ((7) Failed to connect to 127.0.0.1 port 8000)"


def test_the_model_must_be_listed_under_its_served_name():
    seen = facts(health=("200", ""), models=("200", MODELS))
    assert probe_shortfall(seen, "openai/gpt-oss-120b") == "/v1/models lists ['gpt-oss-120b'], not 'openai/gpt-oss-120b'"
    assert probe_shortfall(seen, "gpt-oss-120b", Depth.MODELS) is None


def test_ready_means_one_token_came_back():
    listed = facts(health=("200", ""), models=("200", MODELS))
    assert probe_shortfall({**listed, **facts(completion=("401", '{"error":"Unauthorized"}'))}, "gpt-oss-120b") == (
        "one-token completion failed (HTTP 401)")
    assert probe_shortfall({**listed, **facts(completion=("200", '{"choices":[]}'))}, "gpt-oss-120b") == (
        "completion returned no choices")
    assert probe_shortfall({**listed, **facts(completion=("200", '{"choices":[{"text":"!"}]}'))}, "gpt-oss-120b") is None


def test_health_depth_asks_nothing_more():
    assert probe_shortfall(facts(health=("200", "")), "m", Depth.HEALTH) is None


def test_garbage_bodies_are_a_shortfall_not_a_crash():
    assert "lists []" in probe_shortfall(facts(health=("200", ""), models=("200", "<html>")), "m")
    assert "lists []" in probe_shortfall(facts(health=("200", ""), models=("200", '{"data": 3}')), "m")


def test_a_stopped_container_brings_its_last_log_lines():
    result = Result("n1", 0, "state=exited\nlog: CUDA out of memory\n", "", 0.1)
    assert stopped_container(result, "sparkctl-vllm") == (
        "container sparkctl-vllm is exited; its last log lines:\n    CUDA out of memory")
    assert stopped_container(Result("n1", 0, "state=running\n", "", 0.1), "sparkctl-vllm") is None


def test_the_key_reaches_curl_through_a_pipe_never_its_argv():
    script = probes.server_probe(None, "sparkctl-proxy", 4000, "m", probes.LITELLM, key_env="LITELLM_MASTER_KEY")
    curl = next(line for line in script.splitlines() if line.lstrip().startswith("curl "))
    assert "-H @/dev/fd/3" in script and "3< <(printf 'Authorization: Bearer %s\\n' \"$key\")" in curl
    assert "key_name=LITELLM_MASTER_KEY" in script and "$LITELLM_MASTER_KEY" not in curl


class CountingTransport:
    """Answers every probe after a short pause, counting how many run at once."""

    def __init__(self, ready_after: int):
        self.lock, self.running, self.most, self.rounds, self.ready_after = threading.Lock(), 0, 0, 0, ready_after

    def run(self, node, script, timeout, secrets=None, cancel=None):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
            if script == "serve":
                self.rounds += 1
        ready = script == "serve" and self.rounds > self.ready_after
        body = json.dumps({"choices": [{"text": "x"}]})
        facts = {"state": "running", "health_code": "200", "models_code": "200", "models_body": MODELS,
                 "completion_code": "200" if ready else "000", "completion_body": body if ready else "loading"}
        return Result(node.name, 0, "".join(f"{key}={value}\n" for key, value in facts.items()), "", 0.05)


def test_every_node_is_probed_in_the_same_round_not_one_after_another():
    nodes = [Node(name=f"spark{i}", ip=f"10.0.0.{i}", fabric_ip=f"10.1.0.{i}") for i in range(1, 9)]
    ready = Readiness("http://127.0.0.1:8000", "gpt-oss-120b", "sparkctl-vllm", deadline=30, interval=0.01,
                      watch=tuple(n.name for n in nodes[1:]), watch_script="watch")
    transport = CountingTransport(ready_after=2)
    wait_until_ready(transport, nodes, Step("spark1", "serve", "serve", 30, readiness=ready), "readiness", print)
    assert transport.rounds == 3 and transport.most == 8
