"""`top --once --json` under load, `top` and progress on a terminal, and `connect claude` driving the real
anthropic SDK, through real SSH."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest
from openai import OpenAI

from tests.integration.sparkctl_run import SPARKCTL, Sparkctl, stop

pytestmark = pytest.mark.integration

ENDPOINT = "http://10.77.0.11:8000/v1"
MODEL = "nemotron-3-nano"
# On vLLM 0.33 (vllm-node), which serves /v1/messages. Two sequence slots: four clients keep two requests waiting.
AGENT_RECIPE = "extends: nemotron-3-nano-nvfp4\ncoding_agent: true\nargs:\n  max-num-seqs: 2\n"
NO_TOOLS_RECIPE = "extends: nemotron-3-nano-nvfp4\ncoding_agent: true\nargs:\n  enable-auto-tool-choice: null\n" \
                  "  tool-call-parser: null\n"
# The MXFP4 fork is 0.10.2-based: older than vLLM's Messages API.
FORK_RECIPE = "extends: openai-gpt-oss-120b\ncoding_agent: true\n"
LOAD_DEADLINE = 60.0
# Configured only from the environment `connect claude` gives: base URL, auth token, model.
SDK_SCRIPT = """
import json, os, anthropic
client = anthropic.Anthropic(max_retries=0, timeout=30)
model = os.environ["ANTHROPIC_MODEL"]
with client.messages.stream(model=model, max_tokens=8, messages=[{"role": "user", "content": "hello"}]) as stream:
    streamed = [event.type for event in stream]
    text = stream.get_final_message().content[0].text
tool = {"name": "read_file", "description": "Read a file", "input_schema": {"type": "object",
        "properties": {"path": {"type": "string"}}, "required": ["path"]}}
call = client.messages.create(model=model, max_tokens=256, tools=[tool],
                              messages=[{"role": "user", "content": "show README.md"}])
print(json.dumps({"events": streamed, "text": text, "stop": call.stop_reason,
                  "calls": [[b.type, b.name, b.input] for b in call.content if b.type == "tool_use"]}))
"""


@pytest.fixture(scope="module")
def agent(sim_cluster_factory, tmp_path_factory):
    """A solo coding-agent deployment (up checked /v1/messages), shared by this module's tests; removed after."""
    spark = Sparkctl(sim_cluster_factory(nodes=2))
    recipe = tmp_path_factory.mktemp("agent") / "gpt-oss-agent.yaml"
    recipe.write_text(AGENT_RECIPE)
    spark.run("down", check=True)
    up = spark.run("up", "solo", str(recipe), check=True, timeout=300)
    yield spark, up
    spark.run("down", check=True)


def test_up_refuses_a_coding_agent_recipe_whose_vllm_refuses_tools(sim_cluster_factory, tmp_path):
    spark = Sparkctl(sim_cluster_factory(nodes=2))
    recipe = tmp_path / "no-tools.yaml"
    recipe.write_text(NO_TOOLS_RECIPE)
    spark.run("down", check=True)
    failed = spark.run("up", "solo", str(recipe), timeout=300)
    assert failed.returncode == 5, failed.stderr
    assert "agent-api" in failed.stderr and "spark1" in failed.stderr
    assert "--enable-auto-tool-choice and --tool-call-parser" in failed.stderr
    assert spark.no_containers_anywhere()
    recipe.write_text(FORK_RECIPE)
    old = spark.run("up", "solo", str(recipe), timeout=300)
    assert old.returncode == 5 and "no Anthropic Messages API (vLLM serves it from 0.11.1 on)" in old.stderr, old.stderr
    assert spark.no_containers_anywhere()


def test_up_checked_the_messages_api(agent):
    _spark, up = agent
    assert "Coding-agent API" in up.stderr and "check the Anthropic Messages API" in up.stderr


def load(key: str, stop: threading.Event, clients: int = 4) -> list[threading.Thread]:
    """Clients sending one short chat after another until stop (bounded by LOAD_DEADLINE)."""
    def client() -> None:
        openai = OpenAI(base_url=ENDPOINT, api_key=key, timeout=30, max_retries=0)
        deadline = time.monotonic() + LOAD_DEADLINE
        while not stop.is_set() and time.monotonic() < deadline:
            openai.chat.completions.create(model=MODEL, max_tokens=40,
                                           messages=[{"role": "user", "content": "count to forty " * 20}])

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def test_top_once_json_reports_every_field_of_a_loaded_server(agent):
    spark, _up = agent
    key = spark.run("status", "--show-key", check=True).stdout.strip()
    stop = threading.Event()
    threads = load(key, stop)
    try:
        time.sleep(1.5)
        result = spark.run("top", "--once", "--json", check=True, timeout=60)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=LOAD_DEADLINE)
    view = json.loads(result.stdout)
    print(json.dumps(view["servers"], indent=1))
    nodes = {n["node"]: n for n in view["nodes"]}
    assert set(nodes) == {"spark1", "spark2"} and view["unreachable"] == {}
    assert all(n["mem_available_bytes"] > 0 and n["page_cache_bytes"] >= 0 for n in nodes.values())
    [container] = nodes["spark1"]["containers"]
    assert (container["role"], container["state"], container["restarts"]) == ("solo", "running", 0)
    assert container["uptime_s"] > 0 and nodes["spark2"]["containers"] == []
    [server] = view["servers"]
    assert (server["node"], server["model"], server["deployment"]) == ("spark1", MODEL, container["deployment"])
    assert server["running"] >= 1 and server["waiting"] >= 1, server
    assert 0 < server["kv_cache_usage"] < 1
    assert server["prompt_tokens_total"] > 0 and server["generation_tokens_total"] > 0
    assert server["prompt_tokens_per_s"] > 0 and server["generation_tokens_per_s"] > 0


def test_top_live_redraws_until_its_time_or_ctrl_c(agent):
    spark, _up = agent
    shown = subprocess.run([SPARKCTL, "top", "--seconds", "1.5"], capture_output=True, text=True, timeout=60,
                           env={**spark.env(), "COLUMNS": "200"}, check=True).stdout
    assert "sparkctl top" in shown and "spark1" in shown and "sparkctl-vllm" in shown and MODEL in shown
    lines = spark.start("--json", "top", "--interval", "0.5", "--seconds", "30")
    try:
        first = json.loads(lines.stdout.readline())
        second = json.loads(lines.stdout.readline())
    finally:
        lines.send_signal(signal.SIGINT)
        out, err = stop(lines)
    assert [s["container"] for s in first["servers"]] == ["sparkctl-vllm"] and second["time"] >= first["time"]
    assert lines.returncode == 0 and "top: stopped" in err and "Traceback" not in err


def on_terminal(spark: Sparkctl, *args: str, timeout: float = 60) -> str:
    """Everything sparkctl writes (stdout and stderr) to an 80x24 terminal, as the terminal receives it."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {key: value for key, value in spark.env().items() if key not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([SPARKCTL, *args], stdin=terminal, stdout=terminal, stderr=terminal,
                               env={**env, "TERM": "xterm"})
    os.close(terminal)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([controller], [], [], 0.5)[0]:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: every writer of the terminal has exited
                    break
                if not chunk:
                    break
                received += chunk
            elif process.poll() is not None:
                break
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        os.close(controller)
    return received.decode(errors="replace")


def test_progress_and_top_redraw_in_place_on_a_terminal(agent):
    spark, _up = agent
    dropped = on_terminal(spark, "drop-caches", "--all")
    assert "Traceback" not in dropped and "spark2" in dropped and "MemAvailable" in dropped
    assert "\x1b[1A\x1b[J" in dropped, "the phase's status line was drawn, then drawn over"
    assert re.search(r"Drop page cache  2 done: spark[12], spark[12]  0:00:0\d  done", dropped), dropped

    shown = on_terminal(spark, "top", "--seconds", "2.5")
    frames, backs = shown.count("sparkctl top "), [int(n) for n in re.findall(r"\x1b\[(\d+)A", shown)]
    assert frames >= 2 and len(backs) == frames - 1 and "Traceback" not in shown, shown
    assert all(0 < n <= 23 for n in backs), "each redraw goes back over the last frame, never past the screen"
    lines = re.sub(r"\x1b\[[?\d]*[a-zA-Z]", "", shown).replace("\r", "").split("\n")
    assert max(len(line) for line in lines) <= 80 and MODEL in shown


def sdk_run(spark: Sparkctl, env: dict[str, str], *prefix: str) -> dict:
    """The SDK script's findings, run with env (or under a sparkctl prefix that supplies it)."""
    command = [*prefix, sys.executable, "-c", SDK_SCRIPT]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_anthropic_sdk_configured_only_by_connect_claude(agent):
    spark, _up = agent
    printed = spark.run("connect", "claude", check=True).stdout
    key = spark.run("status", "--show-key", check=True).stdout.strip()
    assert f"export ANTHROPIC_BASE_URL={ENDPOINT.removesuffix('/v1')}" in printed.splitlines()
    assert "unset ANTHROPIC_API_KEY" in printed and key in printed
    env = {"PATH": spark.env()["PATH"], "ANTHROPIC_API_KEY": "sk-ant-must-not-be-sent"}
    shell = subprocess.run(["bash", "-c", 'eval "$1"; exec "${@:2}"', "_", printed, sys.executable, "-c",
                            SDK_SCRIPT], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert shell.returncode == 0, shell.stderr
    found = json.loads(shell.stdout.strip().splitlines()[-1])
    assert found["events"][0] == "message_start" and found["events"][-1] == "message_stop"
    assert found["text"] and "text" in found["events"]
    assert found["stop"] == "tool_use" and found["calls"] == [["tool_use", "read_file", {"path": "spark"}]]
    tunneled = sdk_run(spark, {**spark.env(), "ANTHROPIC_API_KEY": "sk-ant-must-not-be-sent"},
                       SPARKCTL, "connect", "claude", "--tunnel", "--exec")
    assert tunneled["calls"] == [["tool_use", "read_file", {"path": "spark"}]]
