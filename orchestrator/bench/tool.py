"""llama-benchy itself: where it lives, what it needs offline (tokenizer, book), its argv, running it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.bench.store import data_dir
from orchestrator.errors import ConfigError, ExecutionError

VERSION = "0.4.0"
# llama-benchy's own start, tokenizer load and warmup, before the first measured request.
STARTUP_ALLOWANCE = 300.0
PACKAGE = f"llama-benchy=={VERSION}"
LEAN_DEPS = ("aiohttp", "numpy", "pydantic>=2.12.5", "requests", "tabulate", "tokenizers")
DEFAULT_BOOK_URL = "https://www.gutenberg.org/files/1661/1661-0.txt"
KEY_ENV = "SPARKCTL_BENCH_API_KEY"
# Runs llama-benchy's entry point with the key added in memory: the key never appears in any process's argv.
KEY_SHIM = ("import os, sys; sys.argv[1:1] = ['--api-key', os.environ.pop('" + KEY_ENV + "')]; "
            "sys.argv[0] = 'llama-benchy'; from llama_benchy.__main__ import main; main()")


@dataclass(frozen=True)
class Workload:
    """What to measure: llama-benchy's lists, runs, and how to stay offline."""

    pp: tuple[int, ...]
    tg: tuple[int, ...]
    depth: tuple[int, ...]
    concurrency: tuple[int, ...]
    runs: int
    tokenizer: str
    book_url: str
    post_run_cmd: str | None = None
    skip_coherence: bool = False

    def argv(self, base_url: str, model: str, save_to: Path) -> list[str]:
        """llama-benchy's arguments (lists space-separated, as it wants them)."""
        args = ["--base-url", base_url, "--model", model, "--tokenizer", self.tokenizer, "--book-url", self.book_url,
                "--pp", *map(str, self.pp), "--tg", *map(str, self.tg), "--depth", *map(str, self.depth),
                "--concurrency", *map(str, self.concurrency), "--runs", str(self.runs), "--latency-mode", "api",
                "--format", "json", "--save-result", str(save_to), "--emit-progress", "-"]
        args += ["--skip-coherence"] if self.skip_coherence else []
        return args + (["--post-run-cmd", self.post_run_cmd] if self.post_run_cmd else [])

    def deadline(self) -> float:
        """Seconds the whole run may take: every test at a slow Spark's speeds (200 tok/s prefill, 2 tok/s decode)."""
        per_request = [(pp + depth) / 200 + tg / 2 + 30 for pp in self.pp for tg in self.tg for depth in self.depth]
        return STARTUP_ALLOWANCE + self.runs * len(self.concurrency) * sum(per_request)


def managed_dir() -> Path:
    """The venv sparkctl manages for llama-benchy."""
    return data_dir() / "tools" / f"llama-benchy-{VERSION}"


def executable(notify: Callable[[str], None]) -> Path:
    """$SPARKCTL_LLAMA_BENCHY, else the managed venv's llama-benchy (installed on first use)."""
    explicit = os.environ.get("SPARKCTL_LLAMA_BENCHY")
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(f"SPARKCTL_LLAMA_BENCHY={explicit}: not an executable file")
        return path
    path = managed_dir() / "bin" / "llama-benchy"
    if not path.is_file():
        _install(managed_dir(), notify)
    return path


def _install(venv: Path, notify: Callable[[str], None]) -> None:
    """python -m venv + a lean pip install of the pinned llama-benchy (no transformers)."""
    notify(f"installing {PACKAGE} into {venv} (first use)")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True, text=True)
        subprocess.run([*pip, "--no-deps", PACKAGE], check=True, capture_output=True, text=True)
        subprocess.run([*pip, *LEAN_DEPS], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(venv, ignore_errors=True)
        detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()[-3:]
        raise ExecutionError(f"could not install {PACKAGE} into {venv}: {' '.join(detail)}; "
                             "or point SPARKCTL_LLAMA_BENCHY at an existing llama-benchy") from None


def tool_version(path: Path) -> str:
    """`llama-benchy --version`, checked to run at all."""
    try:
        done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60, env=offline_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExecutionError(f"llama-benchy at {path} does not run: {exc}") from None
    words = done.stdout.split()
    if done.returncode != 0 or not words:
        raise ExecutionError(f"llama-benchy at {path} does not run (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return words[-1]


def offline_env(api_key: str | None = None) -> dict[str, str]:
    """Our environment with the hub switched off; the key, if any, for the shim only."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop(KEY_ENV, None)
    if api_key:
        env[KEY_ENV] = api_key
    return env


def command(path: Path, args: list[str], keyed: bool) -> list[str]:
    """The argv that runs llama-benchy; with a key, its own interpreter runs the shim instead."""
    if not keyed:
        return [str(path), *args]
    first = path.read_bytes()[:200].split(b"\n", 1)[0].decode(errors="replace")
    if not first.startswith("#!") or "python" not in first:
        raise ConfigError(f"{path} is not a Python console script, so the endpoint key could only go in argv; "
                          "point SPARKCTL_LLAMA_BENCHY at a pip-installed llama-benchy")
    return [first[2:].strip(), "-c", KEY_SHIM, *args]


def tokenizer_path(explicit: str | None, model: str) -> str:
    """--tokenizer, else the model's tokenizer in the local Hugging Face cache; never the hub."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path / "tokenizer.json").is_file() and not (path.is_file() and path.suffix == ".json"):
            raise ConfigError(f"--tokenizer {explicit}: expected a directory holding tokenizer.json (or the file)")
        return str(path.resolve())
    hub = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface") / "hub"
    found = sorted(hub.glob(f"models--{model.replace('/', '--')}/snapshots/*/tokenizer.json"))
    if found:
        return str(found[-1].parent)
    raise ConfigError(f"no local tokenizer for {model}: llama-benchy would fetch it from the Hugging Face hub; "
                      "pass --tokenizer DIR (a directory with the model's tokenizer.json)")


def book_url(book_file: str | None, url: str | None) -> str:
    """The book llama-benchy reads, always from its cache: --book FILE seeds it, else --book-url must be cached."""
    if book_file:
        text = Path(book_file).expanduser().read_text(encoding="utf-8", errors="replace")
        url = f"http://sparkctl.invalid/book/{hashlib.sha256(text.encode()).hexdigest()[:16]}.txt"
        cached = book_cache(url)
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(text, encoding="utf-8")
        return url
    url = url or DEFAULT_BOOK_URL
    if not book_cache(url).is_file():
        raise ConfigError(f"llama-benchy would download its prompt text from {url}; pass --book FILE (any long "
                          f"plain-text file) or put the text at {book_cache(url)}")
    return url


def book_cache(url: str) -> Path:
    """Where llama-benchy looks for a book before downloading it."""
    return Path.home() / ".cache" / "llama-benchy" / f"{hashlib.md5(url.encode()).hexdigest()}.txt"


@dataclass
class Outcome:
    """What one llama-benchy run left behind."""

    exit_code: int
    result: dict | None
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False
    completed: str = ""
    stderr_tail: str = ""
    expired: bool = False


def run(argv: list[str], env: dict[str, str], save_to: Path, progress: Callable[[dict], None],
        deadline: float = 24 * 3600.0) -> Outcome:
    """Run llama-benchy, feeding each progress event to progress; Ctrl-C, or passing the deadline, stops it and
    keeps what it has."""
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
                                   stdin=subprocess.DEVNULL)
        outcome = Outcome(exit_code=-1, result=None)
        watchdog = threading.Timer(deadline, _expire, (process, outcome))
        watchdog.daemon = True
        watchdog.start()
        try:
            for line in process.stdout:
                _consume(line, outcome, progress)
            outcome.exit_code = process.wait()
        except KeyboardInterrupt:
            outcome.interrupted = True
            process.terminate()
            try:
                outcome.exit_code = process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                outcome.exit_code = process.wait()
        finally:
            watchdog.cancel()
        stderr.seek(0)
        outcome.stderr_tail = "\n".join(stderr.read().splitlines()[-15:])
        if outcome.expired:
            outcome.stderr_tail += f"\nsparkctl stopped llama-benchy after its deadline ({deadline:.0f} s)"
    outcome.result = _read_result(save_to)
    return outcome


def _expire(process: subprocess.Popen, outcome: Outcome) -> None:
    """The deadline passed: stop llama-benchy; what it measured so far is kept and the run marked partial."""
    outcome.expired = outcome.interrupted = True
    process.terminate()


def _consume(line: str, outcome: Outcome, progress: Callable[[dict], None]) -> None:
    try:
        event = json.loads(line)
    except ValueError:
        return
    if not isinstance(event, dict):
        return
    if event.get("type") == "request_end":
        outcome.requests += 1
        if event.get("error"):
            outcome.errors.append(str(event["error"])[:300])
    elif event.get("type") == "bench_complete":
        outcome.completed = str(event.get("status", ""))
    progress(event)


def _read_result(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
