"""sparkctl bench's decisions before and after llama-benchy runs: target, settings, argv, offline checks, status."""

from __future__ import annotations

import hashlib
import stat
import time
from pathlib import Path

import pytest

from orchestrator.bench import run as bench
from orchestrator.bench import tool as benchtool
from orchestrator.errors import ConfigError
from orchestrator.remote.state import Container


def container(role: str, deployment: str = "d1", state: str = "running", node: str = "spark1", **extra) -> Container:
    labels = {"sparkctl.deployment": deployment, "sparkctl.role": role, "sparkctl.recipe": "r",
              "sparkctl.recipe-hash": "h" * 64, "sparkctl.topology": "replicas", "sparkctl.nodes": "spark1,spark2",
              "sparkctl.endpoint": f"http://{node}:8000/v1", "sparkctl.served-name": "m", **extra}
    return Container(node, "sparkctl-vllm", state, labels)


def test_target_is_the_proxy_then_head_or_solo():
    live = [container("replica"), container("proxy", node="spark2", **{"sparkctl.endpoint": "http://spark2:4000/v1"})]
    target = bench.find_target(live)
    assert (target.via, target.endpoint, target.nodes) == ("proxy", "http://spark2:4000/v1", ("spark1", "spark2"))
    assert bench.find_target([container("worker", node="spark2"), container("head")]).via == "head"
    assert bench.find_target([container("solo")]).endpoint == "http://spark1:8000/v1"
    lone = container("replica", **{"sparkctl.endpoint": "http://spark1:4000/v1", "sparkctl.api": "http://spark1:8000/v1"})
    assert bench.find_target([lone, container("proxy", state="exited")]).endpoint == "http://spark1:8000/v1"


@pytest.mark.parametrize(("via", "env", "what"), [("proxy", "SPARKCTL_PROXY_KEY", "the proxy key"),
                                                  ("direct", "SPARKCTL_API_KEY", "the API key")])
def test_the_endpoints_key_comes_from_the_environment_or_its_file(tmp_path, monkeypatch, via, env, what):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv(env, raising=False)
    with pytest.raises(ConfigError, match=f"the endpoint needs {what}"):
        bench.endpoint_key(via)
    monkeypatch.setenv(env, "sk-" + "a" * 20)
    assert bench.endpoint_key(via) == "sk-" + "a" * 20


@pytest.mark.parametrize(("live", "message"), [
    ([], "no deployment is running"),
    ([container("solo", state="exited")], "no deployment is running"),
    ([container("solo"), container("solo", deployment="d2", node="spark2")], "several deployments are running"),
    ([container("worker")], "has no serving container running"),
])
def test_target_refusals(live, message):
    with pytest.raises(ConfigError, match=message):
        bench.find_target(live)


def test_settings_flags_over_recipe_over_defaults():
    recipe = {"pp": [512, 2048], "tg": [32], "concurrency": [1, 2, 4], "runs": 3}
    request = bench.Request(tg=(64,), runs=1)
    settings = bench.resolve_settings(request, recipe, "/tok", "http://book", None)
    assert (settings.pp, settings.tg, settings.depth, settings.concurrency, settings.runs) == (
        (512, 2048), (64,), (0,), (1, 2, 4), 1)
    assert bench.resolve_settings(bench.Request(), {"pp": 1024}, "/t", "u", None).pp == (1024,)


def test_argv_lists_are_space_separated_and_offline():
    settings = benchtool.Workload((512, 1024), (32,), (0,), (1, 2, 4), 2, "/tok", "http://b", "drop 1>&2", True)
    argv = settings.argv("http://h:8000/v1", "m", Path("/w/result.json"))
    joined = " ".join(argv)
    assert "--pp 512 1024" in joined and "--concurrency 1 2 4" in joined and "--runs 2" in joined
    assert "--model m" in joined and "--tokenizer /tok" in joined and "--book-url http://b" in joined
    assert "--emit-progress -" in joined and "--skip-coherence" in joined and argv[-2:] == ["--post-run-cmd", "drop 1>&2"]
    assert "--api-key" not in argv


def test_the_key_goes_through_the_environment_not_argv(tmp_path):
    script = tmp_path / "llama-benchy"
    script.write_text("#!/opt/venv/bin/python3\nimport sys\n")
    argv = benchtool.command(script, ["--base-url", "u"], keyed=True)
    assert argv[0] == "/opt/venv/bin/python3" and "sk-secret" not in " ".join(argv) and argv[-2:] == ["--base-url", "u"]
    assert benchtool.offline_env("sk-secret")[benchtool.KEY_ENV] == "sk-secret"
    assert benchtool.offline_env()["HF_HUB_OFFLINE"] == "1" and benchtool.KEY_ENV not in benchtool.offline_env()
    assert benchtool.command(script, ["x"], keyed=False) == [str(script), "x"]
    binary = tmp_path / "binary"
    binary.write_bytes(b"\x7fELF")
    with pytest.raises(ConfigError, match="not a Python console script"):
        benchtool.command(binary, [], keyed=True)


def test_tokenizer_must_be_local(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ConfigError, match="would fetch it from the Hugging Face hub; pass --tokenizer DIR"):
        benchtool.tokenizer_path(None, "org/model")
    with pytest.raises(ConfigError, match="expected a directory holding tokenizer.json"):
        benchtool.tokenizer_path(str(tmp_path), "org/model")
    snapshot = tmp_path / "hf" / "hub" / "models--org--model" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "tokenizer.json").write_text("{}")
    assert benchtool.tokenizer_path(None, "org/model") == str(snapshot)
    assert benchtool.tokenizer_path(str(snapshot), "x") == str(snapshot.resolve())


def test_book_comes_from_the_cache_or_a_local_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="would download its prompt text .* pass --book FILE"):
        benchtool.book_url(None, None)
    text = tmp_path / "book.txt"
    text.write_text("Some words. " * 100)
    url = benchtool.book_url(str(text), None)
    cached = tmp_path / ".cache" / "llama-benchy" / f"{hashlib.md5(url.encode()).hexdigest()}.txt"
    assert cached.read_text() == text.read_text() and url.startswith("http://sparkctl.invalid/")
    assert benchtool.book_url(None, url) == url


def test_llama_benchy_path_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARKCTL_LLAMA_BENCHY", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="not an executable file"):
        benchtool.executable(print)
    tool = tmp_path / "llama-benchy"
    tool.write_text("#!/bin/sh\necho 'llama-benchy 0.4.0'\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("SPARKCTL_LLAMA_BENCHY", str(tool))
    assert benchtool.executable(print) == tool and benchtool.tool_version(tool) == "0.4.0"


def test_a_failing_llama_benchy_keeps_what_it_saved(tmp_path):
    save_to = tmp_path / "result.json"
    script = (f"import json, sys; print(json.dumps({{'type': 'request_end', 'request_id': 1, 'total_tokens': 0, "
              f"'error': 'Cannot connect'}})); open({str(save_to)!r}, 'w').write(json.dumps({{'benchmarks': []}})); "
              "print('boom', file=sys.stderr); sys.exit(3)")
    events = []
    outcome = benchtool.run(["python3", "-c", script], {}, save_to, events.append)
    assert outcome.exit_code == 3 and outcome.errors == ["Cannot connect"] and outcome.result == {"benchmarks": []}
    assert "boom" in outcome.stderr_tail and events[0]["type"] == "request_end"
    status, problems = bench._status(outcome)
    assert status == "partial" and "1 of 1 requests failed" in problems[0] and "exited 3" in problems[1]
    assert bench._status(benchtool.Outcome(0, None))[0] == "failed"
    assert bench._status(benchtool.Outcome(0, {"benchmarks": []}))[0] == "complete"
    assert bench._status(benchtool.Outcome(1, None, interrupted=True))[0] == "interrupted"


@pytest.mark.parametrize(("args", "message"), [
    (["--concurrency", "1,x"], "expected whole numbers separated by commas"),
    (["--concurrency", "0,2"], "concurrency must be at least 1"),
    (["--runs", "0"], "--runs"),
    (["--pp", ""], "expected whole numbers >= 0"),
])
def test_bench_flags_refuse_bad_values(capsys, args, message):
    from orchestrator.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["bench", *args])
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_llama_benchy_is_stopped_at_a_deadline_derived_from_the_workload(tmp_path):
    workload = benchtool.Workload((512,), (32,), (0,), (1, 2), 2, "tok", "http://book")
    assert 300 < workload.deadline() < 600
    slow = tmp_path / "slow-benchy"
    slow.write_text("#!/bin/sh\necho '{\"event\": \"request_start\"}'\nexec sleep 30\n")
    slow.chmod(0o755)
    started = time.monotonic()
    outcome = benchtool.run([str(slow)], {}, tmp_path / "none.json", lambda _e: None, deadline=0.5)
    assert time.monotonic() - started < 5
    assert outcome.expired and "after its deadline" in outcome.stderr_tail
    assert bench._status(outcome)[0] == "interrupted"


def test_a_name_picks_one_deployment_of_several():
    live = [container("solo"), container("solo", deployment="small.solo.1", node="spark2", **{"sparkctl.name": "small"})]
    assert bench.find_target(live, "small").endpoint == "http://spark2:8000/v1"
    assert bench.find_target(live, "d1").endpoint == "http://spark1:8000/v1"
    with pytest.raises(ConfigError, match="no deployment or stack named 'nope' runs"):
        bench.find_target(live, "nope")
    with pytest.raises(ConfigError, match="name one with --deployment"):
        bench.find_target(live)
