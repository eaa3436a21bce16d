"""`connect claude`: the environment Claude Code reads, printed for eval or handed to a command (key never in argv)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orchestrator.errors import ConfigError
from orchestrator.ops import connect, credentials
from orchestrator.remote.state import Container

LIVE = [Container("spark1", "sparkctl-vllm", "running", {"sparkctl.role": "solo", "sparkctl.served-name": "gpt-oss",
                                                         "sparkctl.endpoint": "http://10.0.0.1:8000/v1"})]


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("SPARKCTL_API_KEY", "sk-local'quote$HOME-secret")
    return "sk-local'quote$HOME-secret"


def test_env_names_base_url_key_and_every_model_slot(api_key):
    env = connect.claude_env("http://10.0.0.1:8000", LIVE)
    assert env["ANTHROPIC_BASE_URL"] == "http://10.0.0.1:8000" and env["ANTHROPIC_AUTH_TOKEN"] == api_key
    assert {env[name] for name in connect.MODEL_VARS} == {"gpt-oss"}
    assert {"ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL"} <= set(env)


def test_printed_lines_eval_back_to_the_same_environment(api_key, capsys):
    env = connect.claude_env("http://10.0.0.1:8000", LIVE)
    connect._print(env, as_json=False)
    printed = capsys.readouterr().out
    assert printed.startswith("unset ANTHROPIC_API_KEY\n")
    shell = subprocess.run(["bash", "-c", printed + "\nenv"], capture_output=True, text=True,
                           env={"ANTHROPIC_API_KEY": "sk-ant-real"}, check=True).stdout
    assert f"ANTHROPIC_AUTH_TOKEN={api_key}" in shell.splitlines() and "sk-ant-real" not in shell


def test_exec_hands_the_key_in_the_environment_and_drops_a_real_anthropic_key(api_key, monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-real")
    seen = tmp_path / "seen"
    script = f"import os, sys; open({str(seen)!r}, 'w').write(repr((sys.argv, os.environ.get('ANTHROPIC_AUTH_TOKEN'), " \
             "os.environ.get('ANTHROPIC_API_KEY'))))"
    code = connect.run_in(connect.claude_env("http://h:1", LIVE), (sys.executable, "-c", script))
    argv, token, real = eval(seen.read_text())  # noqa: S307 - our own repr
    assert (code, token, real) == (0, api_key, None) and api_key not in " ".join(argv)
    assert connect.run_in({}, (sys.executable, "-c", "raise SystemExit(3)")) == 3
    with pytest.raises(ConfigError, match="no-such-agent: command not found"):
        connect.run_in({}, ("no-such-agent",))


def test_replicas_get_the_proxy_key(monkeypatch):
    monkeypatch.setenv("SPARKCTL_PROXY_KEY", "sk-proxy-key-0123456789")
    proxied = [*LIVE, Container("spark1", "sparkctl-proxy", "running", {"sparkctl.role": "proxy"})]
    assert credentials.client_key(proxied) == "sk-proxy-key-0123456789"
