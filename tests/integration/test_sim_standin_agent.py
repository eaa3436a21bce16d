"""The stand-in's /metrics (vLLM's names, real requests in flight) and its Anthropic /v1/messages, on loopback."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Callable

import anthropic
import pytest

from tests.integration.test_sim_standin import Standin, launch  # noqa: F401 - launch is a fixture

pytestmark = pytest.mark.integration

WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def metrics(standin: Standin) -> dict[str, float]:
    """The vllm: samples of /metrics (asked without a key, as vLLM allows), by name."""
    with urllib.request.urlopen(f"{standin.base_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = {}
    for line in text.splitlines():
        match = re.match(r'^(vllm:\w+)\{model_name="gpt-oss",engine="0"\} (\S+)$', line)
        if match:
            found[match[1]] = float(match[2])
    return found


def client(standin: Standin, key: str = "sk-test") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=standin.base_url, auth_token=key, api_key=None, max_retries=0, timeout=20)


@pytest.fixture
def agent(launch: Callable[..., Standin]) -> Standin:  # noqa: F811 - the imported fixture
    """A stand-in with a key, tool calling on and two sequence slots, so a third request waits."""
    standin = launch("--served-model-name", "gpt-oss", "--max-model-len=4096", "--api-key", "sk-test",
                     "--enable-auto-tool-choice", "--tool-call-parser", "openai", "--max-num-seqs", "2",
                     VLLM_STANDIN_DECODE_TPS="20")
    standin.wait_ready()
    return standin


def test_metrics_count_requests_in_flight_waiting_and_tokens(agent: Standin) -> None:
    idle = metrics(agent)
    assert idle == {"vllm:num_requests_running": 0, "vllm:num_requests_waiting": 0, "vllm:kv_cache_usage_perc": 0,
                    "vllm:prompt_tokens_total": 0, "vllm:generation_tokens_total": 0}
    replies = []

    def ask() -> None:
        replies.append(client(agent).messages.create(model="gpt-oss", max_tokens=16,
                                                     messages=[{"role": "user", "content": "one two three"}]))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    busy = metrics(agent)
    deadline = time.monotonic() + 10
    while busy["vllm:num_requests_waiting"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
        busy = metrics(agent)
    for thread in threads:
        thread.join(timeout=30)
    done = metrics(agent)
    assert (busy["vllm:num_requests_running"], busy["vllm:num_requests_waiting"]) == (2, 1)
    assert 0 < busy["vllm:kv_cache_usage_perc"] < 1
    assert busy["vllm:generation_tokens_total"] < 48
    assert done["vllm:num_requests_running"] == done["vllm:num_requests_waiting"] == 0
    assert done["vllm:prompt_tokens_total"] == sum(r.usage.input_tokens for r in replies) == 9
    assert done["vllm:generation_tokens_total"] == sum(r.usage.output_tokens for r in replies) == 48


def test_messages_whole_streamed_and_tool_use(agent: Standin) -> None:
    reply = client(agent).messages.create(model="gpt-oss", max_tokens=5, system="be brief",
                                          messages=[{"role": "user", "content": "hi"}])
    assert (reply.type, reply.role, reply.stop_reason, reply.usage.output_tokens) == ("message", "assistant",
                                                                                     "max_tokens", 5)
    assert reply.content[0].type == "text" and len(reply.content[0].text.split()) == 5
    with client(agent).messages.stream(model="gpt-oss", max_tokens=4,
                                       messages=[{"role": "user", "content": "hi"}]) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert events.count("content_block_start") == 1 and "message_delta" in events
    assert final.content[0].text == "the simulated spark cluster" and final.stop_reason == "max_tokens"
    with client(agent).messages.stream(model="gpt-oss", max_tokens=64, tools=[WEATHER],
                                       messages=[{"role": "user", "content": "weather in Paris?"}]) as stream:
        called = stream.get_final_message()
    assert called.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in called.content] == [("tool_use", "get_weather", {"city": "spark"})]
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": called.content[0].id, "content": "sunny"}]}
    after = client(agent).messages.create(model="gpt-oss", max_tokens=64, tools=[WEATHER], messages=[
        {"role": "user", "content": "weather in Paris?"}, {"role": "assistant", "content": called.content}, result])
    assert after.stop_reason == "end_turn" and after.content[0].type == "text"


def test_messages_refuse_like_vllm(agent: Standin, launch: Callable[..., Standin]) -> None:  # noqa: F811
    with pytest.raises(anthropic.AuthenticationError):
        client(agent, key="wrong").messages.create(model="gpt-oss", max_tokens=1, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.NotFoundError) as missing:
        client(agent).messages.create(model="nope", max_tokens=1, messages=[{"role": "user", "content": "x"}])
    assert missing.value.body["type"] == "error" and "does not exist" in missing.value.body["error"]["message"]
    plain = launch("--served-model-name", "gpt-oss", "--max-model-len=4096", "--api-key", "sk-test")
    plain.wait_ready()
    with pytest.raises(anthropic.BadRequestError, match="enable-auto-tool-choice"):
        client(plain).messages.create(model="gpt-oss", max_tokens=8, tools=[WEATHER],
                                      messages=[{"role": "user", "content": "x"}])


def test_vllm_before_0_11_1_has_no_messages_api(launch: Callable[..., Standin]) -> None:  # noqa: F811
    old = launch("--served-model-name", "gpt-oss", VLLM_STANDIN_TABLE="vllm-mxfp4-fork")
    old.wait_ready()
    with pytest.raises(anthropic.NotFoundError):
        client(old).messages.create(model="gpt-oss", max_tokens=1, messages=[{"role": "user", "content": "x"}])
