"""The OpenAI-compatible HTTP API of the stand-in, with simulated prefill and decode speeds."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import standin_generation as gen
import standin_messages
import standin_stall
from standin_metrics import Engine, exposition

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]+")


def count_tokens(text: str) -> int:
    """Count tokens the way the test tokenizer does: words and punctuation runs."""
    return len(TOKEN_PATTERN.findall(text))


@dataclass
class ServerState:
    """What the handlers need to know about the served model and its speeds."""

    served_names: list[str]
    model: str
    max_model_len: int
    api_key: str | None
    prefill_tps: float
    decode_tps: float
    hits_file: Path | None
    port: int
    started: float = 0.0
    running: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    engine: Engine = field(default_factory=Engine)
    auto_tools: bool = False


class ApiError(Exception):
    """An error answered as vLLM's JSON error body."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class StandinHandler(BaseHTTPRequestHandler):
    """Routes vLLM's HTTP endpoints."""

    protocol_version = "HTTP/1.1"
    # Like uvicorn: without TCP_NODELAY each small write waits out the client's delayed ACK (~40 ms), skewing timings.
    disable_nagle_algorithm = True
    server_version = "uvicorn"
    sys_version = ""
    state: ServerState

    def log_message(self, fmt: str, *args: object) -> None:
        """Uvicorn-style access log on stdout, as vLLM prints."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Print one access line per request."""
        host, port = self.client_address[:2]
        print(f'INFO:     {host}:{port} - "{self.requestline}" {code}', flush=True)

    def send_json(self, status: int, body: object) -> None:
        """Send a complete JSON response."""
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, error: ApiError) -> None:
        """Send an error in vLLM's shape."""
        self.send_json(
            error.status,
            {"error": {"message": error.message, "type": error.kind, "param": None, "code": error.status}},
        )

    def check_api_key(self) -> None:
        """Enforce --api-key on /v1 routes, as vLLM does."""
        expected = self.state.api_key
        if expected and self.headers.get("Authorization", "") != f"Bearer {expected}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        """Answer health, version, metrics and model listing."""
        path = self.path.split("?", 1)[0]
        try:
            if path in ("/health", "/ping"):
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/version":
                self.send_json(200, {"version": gen.VLLM_VERSION})
            elif path == "/metrics":
                self.send_metrics()
            elif path == "/v1/models":
                self.check_api_key()
                self.send_json(200, gen.models_body(self.state))
            else:
                raise ApiError(404, "NotFoundError", "Not Found")
        except ApiError as error:
            self.send_error_json(error)

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        """Answer chat and text completions."""
        path = self.path.split("?", 1)[0]
        if path in ("/v1/messages", "/v1/messages/count_tokens") and standin_messages.served(gen.VLLM_VERSION):
            standin_messages.handle(self)
            return
        try:
            if path not in ("/v1/chat/completions", "/v1/completions"):
                raise ApiError(404, "NotFoundError", "Not Found")
            self.check_api_key()
            request = self.read_json()
            self.record_hit(path)
            self.complete(path, request)
        except ApiError as error:
            self.send_error_json(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def read_json(self) -> dict:
        """Read and parse the request body."""
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as error:
            raise ApiError(400, "BadRequestError", f"invalid JSON body: {error}") from error
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequestError", "the request body must be a JSON object")
        return body

    def record_hit(self, path: str) -> None:
        """Append one line per completion request, so tests can count hits per backend."""
        if self.state.hits_file:
            line = f"{time.time():.3f} {socket.gethostname()} {self.state.port} {path}\n"
            with self.state.hits_file.open("a") as handle:
                handle.write(line)

    def complete(self, path: str, request: dict) -> None:
        """Plan the completion, wait out the prefill, then answer streamed or whole."""
        standin_stall.hold()
        chat = path.endswith("chat/completions")
        plan = gen.plan_completion(self.state, request, chat, count_tokens)
        with self.admit(plan.prompt_tokens, plan.completion_tokens):
            time.sleep(plan.prompt_tokens / self.state.prefill_tps)
            if request.get("stream"):
                self.stream(plan)
            else:
                time.sleep(max(plan.completion_tokens - 1, 0) / self.state.decode_tps)
                self.send_json(200, gen.whole_body(plan))

    def admit(self, prompt_tokens: int, completion_tokens: int):
        """Hold a sequence slot of the simulated engine while the request runs (waiting for one first)."""
        return self.state.engine.admit(prompt_tokens, completion_tokens, self.state.prefill_tps, self.state.decode_tps)

    def stream(self, plan: gen.CompletionPlan) -> None:
        """Send server-sent events: the first token right after prefill, then one per decode step."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        step = 1.0 / self.state.decode_tps
        next_at = time.monotonic()
        for event in gen.stream_events(plan):
            if event.decode_step:
                next_at += step
                time.sleep(max(0.0, next_at - time.monotonic()))
            self.send_chunk(f"data: {event.payload}\n\n".encode())
        self.send_chunk(b"data: [DONE]\n\n")
        self.send_chunk(b"")

    def send_chunk(self, data: bytes) -> None:
        """Write one HTTP/1.1 chunk and flush it."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def send_metrics(self) -> None:
        """The engine's gauges and counters with vLLM's names (no API key needed, as in vLLM)."""
        data = exposition(self.state.engine, self.state.served_names[0], gen.VLLM_VERSION).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class StandinServer(ThreadingHTTPServer):
    """A threading server whose request threads do not block shutdown."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(state: ServerState, host: str) -> StandinServer:
    """Bind the API server; raises OSError when the port is taken."""
    handler = type("BoundHandler", (StandinHandler,), {"state": state})
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("BoundServer", (StandinServer,), {"address_family": family})
    return server_class((host, state.port), handler)
