"""The vLLM stand-in on loopback: flags, OpenAI API shape, timing ground truth and fault modes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from tests.sim.hub import Hub, HubServer, generated_repo

pytestmark = pytest.mark.integration

STANDIN = Path(__file__).resolve().parents[1] / "sim" / "standin" / "vllm_standin.py"
MODEL = "openai/gpt-oss-120b"
READY_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@dataclass
class Standin:
    """A running stand-in process and where it listens."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text()

    def client(self, api_key: str = "EMPTY") -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=api_key, max_retries=0, timeout=20)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if http_status(f"{self.base_url}/health") == 200:
                return
            assert self.process.poll() is None, f"stand-in exited early:\n{self.output()}"
            time.sleep(0.05)
        raise AssertionError(f"stand-in not ready within {timeout} s:\n{self.output()}")

    def wait_exit(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Standin]]:
    """Start stand-ins (`launch(*flags, **env)`); each is killed by its PID afterwards."""
    started: list[Standin] = []

    def start(*flags: str, **env: str) -> Standin:
        port = free_port()
        log = tmp_path / f"standin-{port}.log"
        environ = {**os.environ, "VLLM_STANDIN_LOAD_SECONDS": "0.2", **env}
        argv = [
            sys.executable,
            str(STANDIN),
            "serve",
            MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *flags,
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=environ)
        started.append(Standin(process, port, log))
        return started[-1]

    yield start
    for standin in started:
        if standin.process.poll() is None:
            os.kill(standin.process.pid, signal.SIGKILL)
        standin.process.wait(timeout=10)


@pytest.fixture
def ready(launch: Callable[..., Standin]) -> Standin:
    """One stand-in, ready, serving under a second name too."""
    standin = launch("--served-model-name", "gpt-oss", "--max-model-len=4096")
    standin.wait_ready()
    return standin


def chat_stream(client: openai.OpenAI, prompt: str, max_tokens: int) -> tuple[float, list[float], list]:
    """Stream a chat; return the time to the first chunk, each content chunk's time, and all chunks."""
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="gpt-oss",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks, content_times, first = [], [], None
    for chunk in stream:
        now = time.monotonic() - started
        first = now if first is None else first
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            content_times.append(now)
    return first or 0.0, content_times, chunks


def test_models_lists_served_name_and_context(ready: Standin) -> None:
    models = ready.client().models.list().data
    assert [m.id for m in models] == ["gpt-oss"]
    assert models[0].model_extra["max_model_len"] == 4096


def test_chat_whole_and_streamed(ready: Standin) -> None:
    client = ready.client()
    whole = client.chat.completions.create(
        model="gpt-oss", messages=[{"role": "user", "content": "Hi, you!"}], max_tokens=5
    )
    assert whole.usage.prompt_tokens == 4 and whole.usage.completion_tokens == 5
    assert len(whole.choices[0].message.content.split()) == 5 and whole.choices[0].finish_reason == "length"
    _, content_times, chunks = chat_stream(client, "one two three", 7)
    assert len(content_times) == 7
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 7
    assert chunks[-1].usage.prompt_tokens == 3


def test_completions_whole_and_streamed(ready: Standin) -> None:
    client = ready.client()
    whole = client.completions.create(model="gpt-oss", prompt="a b c d", max_tokens=3)
    assert whole.usage.prompt_tokens == 4 and whole.usage.completion_tokens == 3
    stream = client.completions.create(
        model="gpt-oss", prompt="a b", max_tokens=4, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices).split() == whole.choices[0].text.split() + [
        "cluster"
    ]
    assert chunks[-1].usage.total_tokens == 6


def test_request_errors_are_vllm_shaped(ready: Standin) -> None:
    client = ready.client()
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="other", prompt="x", max_tokens=1)
    with pytest.raises(openai.BadRequestError, match="maximum context length is 4096"):
        client.completions.create(model="gpt-oss", prompt="x " * 4000, max_tokens=200)


def test_prefill_and_decode_timing(launch: Callable[..., Standin]) -> None:
    standin = launch("--served-model-name", "gpt-oss", VLLM_STANDIN_PREFILL_TPS="2000", VLLM_STANDIN_DECODE_TPS="50")
    standin.wait_ready()
    prompt = "word " * 600
    first, content_times, _ = chat_stream(standin.client(), prompt, 20)
    assert first == pytest.approx(0.3, abs=0.1)
    assert content_times[-1] - content_times[0] == pytest.approx(19 / 50, abs=0.08)


def test_concurrent_requests_overlap(ready: Standin) -> None:
    durations: list[float] = []

    def one() -> None:
        started = time.monotonic()
        chat_stream(ready.client(), "hello", 20)
        durations.append(time.monotonic() - started)

    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(durations) == 4
    assert time.monotonic() - started < 2 * max(durations)


def test_api_key_enforced(launch: Callable[..., Standin]) -> None:
    standin = launch("--api-key", "s3cret")
    standin.wait_ready()
    with pytest.raises(openai.AuthenticationError):
        standin.client("wrong").models.list()
    assert standin.client("s3cret").models.list().data[0].id == MODEL


def test_hits_file_counts_completions(launch: Callable[..., Standin], tmp_path: Path) -> None:
    hits = tmp_path / "hits"
    standin = launch(VLLM_STANDIN_HITS_FILE=str(hits))
    standin.wait_ready()
    for _ in range(3):
        standin.client().completions.create(model=MODEL, prompt="x", max_tokens=1)
    assert len(hits.read_text().splitlines()) == 3


def test_logs_like_vllm_and_stops_on_sigterm(ready: Standin) -> None:
    os.kill(ready.process.pid, signal.SIGTERM)
    assert ready.wait_exit(10) == 0
    out = ready.output()
    for line in (
        "vLLM API server version",
        "Starting to load model",
        "Starting vLLM API server 0 on",
        "Application startup complete.",
        "Shutting down",
    ):
        assert line in out
    assert out.splitlines()[0].startswith("INFO ") and "[__init__.py:" in out.splitlines()[0]


def test_unknown_flag_rejected_like_argparse(launch: Callable[..., Standin]) -> None:
    standin = launch("--foo", "1")
    assert standin.wait_exit(10) == 2
    # Leftover arguments are reported by the top-level `vllm` parser, as with a real vLLM's subcommands.
    assert "vllm: error: unrecognized arguments: --foo 1" in standin.output()


def test_real_flags_accepted(launch: Callable[..., Standin]) -> None:
    standin = launch(
        "-tp",
        "1",
        "--pipeline-parallel-size=1",
        "--gpu-memory-utilization",
        "0.7",
        "--enforce-eager",
        "--no-enable-prefix-caching",
        "--quantization",
        "mxfp4",
        "--mxfp4-layers",
        "moe,qkv,o",
        "--kv-cache-dtype",
        "fp8",
        "--max_num_seqs",
        "16",
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        "openai",
        "--reasoning-parser",
        "qwen3",
        "--speculative-config",
        '{"method": "ngram"}',
        "-O",
        "3",
        "--async-scheduling",
    )
    standin.wait_ready()


@pytest.mark.parametrize(
    "flags",
    [
        ["-tp", "2"],
        ["-tp", "2", "--distributed-executor-backend", "mp"],
        ["-pp", "2", "--distributed-executor-backend", "ray"],
    ],
)
def test_two_gpus_without_ray_fail(launch: Callable[..., Standin], flags: list[str]) -> None:
    standin = launch(*flags)
    assert standin.wait_exit(10) == 1
    assert "Error" in standin.output() and "Application startup complete" not in standin.output()


def test_crash_during_load(launch: Callable[..., Standin]) -> None:
    standin = launch(VLLM_STANDIN_FAULT="crash-during-load", VLLM_STANDIN_LOAD_SECONDS="1")
    assert standin.wait_exit(10) == 1
    assert "Traceback (most recent call last)" in standin.output()
    assert "CUDA out of memory" in standin.output()


def test_crash_after_serving(launch: Callable[..., Standin]) -> None:
    standin = launch(VLLM_STANDIN_FAULT="crash-after:1.5")
    standin.wait_ready()
    assert standin.wait_exit(10) == 1
    assert "EngineDeadError" in standin.output()


def test_never_ready_keeps_port_closed(launch: Callable[..., Standin]) -> None:
    standin = launch(VLLM_STANDIN_FAULT="never-ready")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert http_status(f"{standin.base_url}/health", timeout=0.3) is None
        time.sleep(0.2)
    assert standin.process.poll() is None and "Starting to load model" in standin.output()


def test_slow_start_opens_port_late(launch: Callable[..., Standin]) -> None:
    started = time.monotonic()
    standin = launch(VLLM_STANDIN_FAULT="slow-start:2")
    time.sleep(1)
    assert http_status(f"{standin.base_url}/health") is None
    standin.wait_ready()
    assert time.monotonic() - started == pytest.approx(2.2, abs=0.8)


def test_multi_node_without_ray_waits_for_workers(launch: Callable[..., Standin]) -> None:
    master = ["--nnodes", "2", "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "-tp", "2"]
    worker = launch(*master, "--node-rank", "1", "--headless")
    head = launch(*master, "--node-rank", "0")
    head.wait_ready()
    os.kill(worker.process.pid, signal.SIGKILL)
    assert head.wait_exit(10) == 1
    assert "lost the connection to a worker node" in head.output()


def test_multi_node_head_alone_times_out(launch: Callable[..., Standin]) -> None:
    head = launch("--nnodes", "2", "--master-port", str(free_port()), "-tp", "2", VLLM_STANDIN_RENDEZVOUS_TIMEOUT="1")
    assert head.wait_exit(10) == 1
    assert "DistNetworkError" in head.output()


# ---- strictness: the image's flag table (VLLM_STANDIN_TABLE, VLLM_STANDIN_STRICT=flags) ------------------
TABLES = Path(__file__).resolve().parents[1] / "sim" / "vllm_flags"
FORK = {"VLLM_STANDIN_TABLE": "vllm-mxfp4-fork"}
STRICT = {"VLLM_STANDIN_STRICT": "flags"}


def run_standin(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run `vllm <args>` to completion: accepted serve flags reach the load, which then crashes at once."""
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VLLM_")},
        "VLLM_STANDIN_FAULT": "crash-during-load",
        "VLLM_STANDIN_LOAD_SECONDS": "0.05",
        **env,
    }
    argv = [sys.executable, str(STANDIN), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=environ, timeout=30)


def accepted(result: subprocess.CompletedProcess) -> bool:
    """The flags parsed: the stand-in went on to load the model."""
    return result.returncode == 1 and "Starting to load model" in result.stdout


def table_flags(name: str) -> set[str]:
    """Every spelling a table accepts."""
    table = json.loads((TABLES / f"{name}.json").read_text())
    return {f for o in table["options"] for f in o["flags"] + o["hidden_flags"]}


def test_tables_come_from_real_vllm() -> None:
    new, fork = (json.loads((TABLES / f"{n}.json").read_text()) for n in ("vllm-0.33.0", "vllm-mxfp4-fork"))
    assert new["vllm_version"] == "0.33.0" and fork["vllm_version"].startswith("0.10.2")
    assert len(new["options"]) > 250 and len(new["env_vars"]) > 250
    assert {"--swap-space", "--max-seq-len-to-capture", "--mxfp4-layers"} <= table_flags("vllm-mxfp4-fork")
    assert not {"--swap-space", "--max-seq-len-to-capture", "--mxfp4-layers"} & table_flags("vllm-0.33.0")
    assert {"--moe-backend", "--nnodes", "--disable-prefix-caching"} <= table_flags("vllm-0.33.0")
    assert "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8" in fork["env_vars"]
    assert "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8" not in new["env_vars"]


def test_unknown_flag_fails_exactly_like_vllm() -> None:
    result = run_standin("serve", MODEL, "--swap-space", "4", "-tp", "1", **STRICT)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "usage: vllm [-h] [-v] {chat,complete,serve,launch,bench,collect-env,download-kernels,preload,run-batch,"
        "snapshot} ...",
        "vllm: error: unrecognized arguments: --swap-space 4",
    ]


def test_bad_values_fail_in_the_serve_parser() -> None:
    bad_int = run_standin("serve", MODEL, "-tp", "two", **STRICT)
    assert bad_int.returncode == 2
    assert bad_int.stderr.splitlines() == [
        "usage: vllm serve [model_tag] [options]",
        "vllm serve: error: argument --tensor-parallel-size/-tp: invalid int value: 'two'",
    ]
    bad_layers = run_standin("serve", MODEL, "--mxfp4-layers", "moe,attn", **STRICT, **FORK)
    assert bad_layers.returncode == 2 and "argument --mxfp4-layers: invalid value 'moe,attn'" in bad_layers.stderr
    bad_choice = run_standin("serve", MODEL, "--mxfp4-backend", "cuda", **STRICT, **FORK)
    assert bad_choice.returncode == 2 and "invalid choice: 'cuda'" in bad_choice.stderr


@pytest.mark.parametrize(
    ("table", "flags", "ok"),
    [
        ("vllm-0.33.0", ["--max_num_seqs", "16", "--enable_chunked_prefill"], True),
        ("vllm-0.33.0", ["--no-enforce-eager", "--disable-prefix-caching", "--no-enable-prefix-caching"], True),
        ("vllm-0.33.0", ["--compilation-config.mode", "3", "-cc.cudagraph_mode=NONE", "-O3"], True),
        ("vllm-0.33.0", ["--moe-backend", "marlin", "--nnodes", "1", "--node-rank", "0", "--headless"], True),
        ("vllm-0.33.0", ["--mxfp4-layers", "moe,qkv,o"], False),
        ("vllm-0.33.0", ["--max-seq-len-to-capture", "8192"], False),
        ("vllm-0.33.0", ["--disable-frontend-multiprocessing"], False),
        ("vllm-mxfp4-fork", ["--mxfp4-layers", "moe,qkv,o,lm_head", "--mxfp4-backend", "marlin"], True),
        ("vllm-mxfp4-fork", ["--swap-space", "4", "--max-seq-len-to-capture", "8192", "-O", "3"], True),
        ("vllm-mxfp4-fork", ["--disable-prefix-caching"], False),
        ("vllm-mxfp4-fork", ["--nnodes", "2"], False),
        ("vllm-mxfp4-fork", ["--moe-backend", "marlin"], False),
    ],
)
def test_strict_flags_follow_the_image_table(table: str, flags: list[str], ok: bool) -> None:
    result = run_standin("serve", MODEL, *flags, "-tp", "1", VLLM_STANDIN_TABLE=table, **STRICT)
    assert accepted(result) == ok, result.stderr + result.stdout
    if not ok:
        assert result.returncode == 2 and "unrecognized arguments: " + flags[0] in result.stderr


def test_lenient_by_default_accepts_any_shipped_version() -> None:
    assert accepted(run_standin("serve", MODEL, "--swap-space", "4", "--nnodes", "1"))
    assert not accepted(run_standin("serve", MODEL, "--no-such-flag"))


def test_dotted_json_keys_merge_like_vllm() -> None:
    spelled = ("--compilation_config.mode", "3", "--compilation-config.pass_config.x=1")
    result = run_standin("serve", MODEL, *spelled, **STRICT)
    assert accepted(result)
    assert "'compilation_config': {'mode': 3, 'pass_config': {'x': 1}}" in result.stdout
    short = run_standin("serve", MODEL, "-cc.cudagraph_mode=NONE", **STRICT)
    assert "'compilation_config': {'cudagraph_mode': 'NONE'}" in short.stdout


def test_model_option_moved_or_refused_by_version() -> None:
    moved = run_standin("serve", "--model", MODEL, "-tp", "1", **STRICT)
    assert accepted(moved) and "you should provide the model as a positional argument" in moved.stdout
    refused = run_standin("serve", "--model", MODEL, **STRICT, **FORK)
    assert refused.returncode == 1 and "ValueError: With `vllm serve`, you should provide the model" in refused.stdout


def test_unknown_vllm_env_is_logged_by_0_33_only() -> None:
    env = {"VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "1", "VLLM_USE_DEEP_GEMM": "0", "VLLM_NO_SUCH": "1"}
    new = run_standin("serve", MODEL, **env)
    warned = [line for line in new.stdout.splitlines() if "Unknown vLLM environment variable detected" in line]
    assert [line.split("detected: ")[1] for line in warned] == ["VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8", "VLLM_NO_SUCH"]
    assert warned[0].startswith("WARNING ") and "VLLM_STANDIN_FAULT" not in new.stdout
    assert "Unknown vLLM environment variable" not in run_standin("serve", MODEL, **env, **FORK).stdout
    fatal = run_standin("serve", MODEL, "--fail-on-environ-validation", VLLM_NO_SUCH="1")
    assert fatal.returncode == 1 and "ValueError: Unknown vLLM environment variable detected: VLLM_NO_SUCH" in fatal.stdout
    assert "Starting to load model" not in fatal.stdout


def help_flags(text: str) -> set[str]:
    """Option spellings in argparse help: a line starting (after spaces) with one, then `, ` before each other."""
    flags = set()
    for line in text.splitlines():
        if re.match(r"^\s+-", line):
            invocation = line.strip().split("  ")[0]
            flags.update(re.findall(r"(?:^|, )(-[\w.+-]+)", invocation))
    return flags


def test_help_all_lists_every_option_of_the_table() -> None:
    table = json.loads((TABLES / "vllm-0.33.0.json").read_text())
    result = run_standin("serve", "--help=all")
    assert result.returncode == 0
    visible = {f for o in table["options"] for f in o["flags"]}
    assert visible <= help_flags(result.stdout) and "--swap-space" not in result.stdout
    assert "--no-enable-prefix-caching" not in result.stdout  # hidden, as in vLLM
    short = run_standin("serve", "--help")
    assert "Config Groups:" in short.stdout and "ModelConfig" in short.stdout
    assert "--tensor-parallel-size" not in short.stdout
    one = run_standin("serve", "--help=max_model_len")
    assert "--max-model-len" in help_flags(one.stdout) and "--tensor-parallel-size" not in one.stdout


def test_fork_help_is_0_10_style() -> None:
    full = run_standin("serve", "--help", **FORK)
    fork = json.loads((TABLES / "vllm-mxfp4-fork.json").read_text())
    visible = {f for o in fork["options"] for f in o["flags"]}
    assert visible <= help_flags(full.stdout)
    assert visible <= help_flags(run_standin("serve", "--help=all", **FORK).stdout)  # lenient: every option
    # VLLM_STANDIN_STRICT=help: as 0.10.2 really does, "all" is a search keyword, not the full list
    keyword = run_standin("serve", "--help=all", **FORK, VLLM_STANDIN_STRICT="help")
    assert keyword.stdout.startswith("\nParameters matching 'all':")
    assert "--tensor-parallel-size" in keyword.stdout and "--max-model-len" not in keyword.stdout


def test_version_follows_the_table() -> None:
    assert run_standin("--version").stdout.strip() == "0.33.0"
    assert run_standin("--version", **FORK).stdout.strip() == "0.10.2+mxfp4"


# ---- llama-benchy's coherence check -------------------------------------------------------------------
LLAMA_BENCHY = Path(__file__).resolve().parents[2] / ".venv-bench" / "bin" / "llama-benchy"
BENCHY_BOOK_URL = "https://www.gutenberg.org/files/1661/1661-0.txt"  # llama-benchy's default; read from its cache


def test_coherence_question_answered_like_a_model(ready: Standin) -> None:
    question = "What is the capital of France? Please reply with one word only"
    whole = ready.client().chat.completions.create(
        model="gpt-oss", messages=[{"role": "user", "content": question}], max_tokens=100
    )
    assert whole.choices[0].message.content == "Paris" and whole.choices[0].finish_reason == "stop"
    assert whole.usage.completion_tokens == 1
    capped = ready.client().chat.completions.create(
        model="gpt-oss", messages=[{"role": "user", "content": question}], max_tokens=1
    )
    assert capped.choices[0].message.content == "Paris"
    prose = ready.client().chat.completions.create(
        model="gpt-oss", messages=[{"role": "user", "content": "the capital of France " * 60}], max_tokens=3
    )
    assert "Paris" not in prose.choices[0].message.content  # benchmark-length prompts keep the plain reply


def test_llama_benchy_passes_coherence_and_measures_the_set_speeds(
    launch: Callable[..., Standin], tmp_path: Path
) -> None:
    import hashlib

    from tests.benchdata import book_text, build_tokenizer

    if not os.access(LLAMA_BENCHY, os.X_OK):
        pytest.fail(f"{LLAMA_BENCHY} is missing: run 'make bench-venv'", pytrace=False)
    home = tmp_path / "home"
    book = home / ".cache" / "llama-benchy" / f"{hashlib.md5(BENCHY_BOOK_URL.encode()).hexdigest()}.txt"
    book.parent.mkdir(parents=True)
    book.write_text(book_text(), encoding="utf-8")
    tokenizer = build_tokenizer(LLAMA_BENCHY.parent / "python", book, tmp_path / "tokenizer")
    standin = launch(VLLM_STANDIN_PREFILL_TPS="2000", VLLM_STANDIN_DECODE_TPS="50")
    standin.wait_ready()
    result_file = tmp_path / "result.json"
    argv = [str(LLAMA_BENCHY), "--base-url", f"{standin.base_url}/v1", "--model", MODEL, "--tokenizer", str(tokenizer),
            "--pp", "512", "--tg", "32", "--concurrency", "1", "--runs", "2", "--format", "json",
            "--save-result", str(result_file)]
    env = {**os.environ, "HOME": str(home), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Coherence test PASSED." in run.stdout, run.stdout
    (row,) = json.loads(result_file.read_text())["benchmarks"]
    print(f"llama-benchy: pp {row['pp_throughput']['mean']:.1f} t/s, tg {row['tg_throughput']['mean']:.2f} t/s")
    assert row["tg_throughput"]["mean"] == pytest.approx(50, rel=0.03)
    assert row["pp_throughput"]["mean"] == pytest.approx(2000, rel=0.08)


# ---- strict model loading (VLLM_STANDIN_STRICT=model) from the HF cache, the hub stand-in on loopback -----
HUB_MODEL = "sim-org/tiny-model"
SHARD_BYTES = 256 << 10


@pytest.fixture
def hub() -> Iterator[HubServer]:
    """The hub stand-in on loopback with one three-shard repo."""
    with HubServer(Hub({HUB_MODEL: generated_repo(shards=3, shard_bytes=SHARD_BYTES)}), host="127.0.0.1") as server:
        yield server


def load(hf_home: Path, hub: HubServer | None, *flags: str, model: str = HUB_MODEL, **env: str):
    """Run a strict-model serve until it has loaded the weights (then the requested crash stops it)."""
    settings = {"VLLM_STANDIN_STRICT": "model", "HF_HOME": str(hf_home), "VLLM_STANDIN_DOWNLOAD_BPS": "1e9", **env}
    if hub is not None:
        settings["HF_ENDPOINT"] = hub.url
    return run_standin("serve", model, *flags, **settings)


def loaded(result: subprocess.CompletedProcess, shards: int = 3) -> bool:
    """The weights passed (the requested crash comes only after them), counted as `shards` load steps."""
    progress = shards == 1 or f"Loading safetensors checkpoint shards:  33% Completed | 1/{shards}" in result.stdout
    return progress and "CUDA out of memory" in result.stdout


def snapshot_dir(hf_home: Path, hub: HubServer) -> Path:
    commit = hub.hub.repos[HUB_MODEL].commit
    return hf_home / "hub" / "models--sim-org--tiny-model" / "snapshots" / commit


def test_missing_model_is_downloaded_at_the_set_rate_then_served_offline(hub: HubServer, tmp_path: Path) -> None:
    first = load(tmp_path / "hf", hub, VLLM_STANDIN_DOWNLOAD_BPS=str(3 * SHARD_BYTES / 1.5))
    assert loaded(first), first.stdout
    took = sum(float(t) for t in re.findall(r"Downloaded \S+\.safetensors in ([\d.]+) s", first.stdout))
    print(f"3 shards of {SHARD_BYTES} bytes at {3 * SHARD_BYTES / 1.5:.0f} B/s: {took:.2f} s")
    assert 1.35 <= took <= 2.2, f"3 shards at 1/1.5 of their size per second took {took:.2f} s"
    snapshot = snapshot_dir(tmp_path / "hf", hub)
    shards = sorted(p.name for p in snapshot.glob("*.safetensors"))
    assert len(shards) == 3 and all((snapshot / s).is_symlink() and (snapshot / s).stat().st_size == SHARD_BYTES
                                    for s in shards)
    assert (snapshot.parents[1] / "refs" / "main").read_text() == hub.hub.repos[HUB_MODEL].commit
    hub.hub.requests.clear()
    again = load(tmp_path / "hf", None, HF_HUB_OFFLINE="1")
    assert loaded(again), again.stdout
    assert sum(hub.hub.requests.values()) == 0


def test_offline_without_the_snapshot_fails_like_huggingface_hub(tmp_path: Path) -> None:
    result = load(tmp_path / "hf", None, HF_HUB_OFFLINE="1")
    assert result.returncode == 1 and "Starting to load model" not in result.stdout
    assert "huggingface_hub.errors.LocalEntryNotFoundError: Cannot find an appropriate cached snapshot" in result.stdout


def test_unknown_repo_fails_from_the_hub(hub: HubServer, tmp_path: Path) -> None:
    result = load(tmp_path / "hf", hub, model="sim-org/nope")
    assert result.returncode == 1 and "RepositoryNotFoundError" in result.stdout


def test_dangling_link_or_short_file_fails_the_load_naming_it(hub: HubServer, tmp_path: Path) -> None:
    assert loaded(load(tmp_path / "hf", hub))
    snapshot = snapshot_dir(tmp_path / "hf", hub)
    first, second = sorted(snapshot.glob("*.safetensors"))[:2]
    # sparkctl's manifest gives the sizes offline, as after `sparkctl models sync`
    files = {p.name: [os.path.basename(os.readlink(p)), SHARD_BYTES] for p in snapshot.iterdir()}
    manifest = snapshot.parents[1] / ".sparkctl" / f"{snapshot.name}.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"commit": snapshot.name, "files": files}))
    os.truncate(second.resolve(), SHARD_BYTES // 2)
    short = load(tmp_path / "hf", None, HF_HUB_OFFLINE="1")
    assert short.returncode == 1 and f"Failed to load {second}: short: {SHARD_BYTES // 2} of {SHARD_BYTES}" in short.stdout
    assert "SafetensorError" in short.stdout and "Loading safetensors checkpoint shards" not in short.stdout
    first.resolve().unlink()
    dangling = load(tmp_path / "hf", None, HF_HUB_OFFLINE="1")
    assert dangling.returncode == 1
    assert f"FileNotFoundError: [Errno 2] No such file or directory: '{first}'" in dangling.stdout


def test_local_directory_model_and_lenient_default(tmp_path: Path) -> None:
    local = tmp_path / "local-model"
    local.mkdir()
    (local / "config.json").write_text("{}")
    (local / "model.safetensors").write_bytes(b"x" * 100)
    assert loaded(load(tmp_path / "hf", None, model=str(local), HF_HUB_OFFLINE="1"), shards=1)
    (local / "model.safetensors").unlink()
    missing = load(tmp_path / "hf", None, model=str(local), HF_HUB_OFFLINE="1")
    assert missing.returncode == 1 and "Cannot find any model weights" in missing.stdout
    lenient = run_standin("serve", "sim-org/not-downloaded", HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    assert "CUDA out of memory" in lenient.stdout  # without VLLM_STANDIN_STRICT=model nothing is checked


def test_speed_model_tells_topologies_apart_and_punishes_sockets():
    from tests.sim.standin.standin_speed import decode_speedup

    assert decode_speedup(1, 1, "") == 1.0
    tp2, tp4, tp2pp2, tp8 = (decode_speedup(t, p, "IB") for t, p in ((2, 1), (4, 1), (2, 2), (8, 1)))
    assert 1.3 < tp2 < 1.5 and tp4 > tp2 > tp2pp2 > 1.0 and tp8 < tp4
    assert decode_speedup(2, 1, "Socket") < 0.4 * tp2
