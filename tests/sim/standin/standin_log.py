"""vLLM-style log lines on stdout, flushed at once so `docker logs` shows them live."""

from __future__ import annotations

import os
import sys
import time


def log(source: str, message: str, level: str = "INFO") -> None:
    """Print `LEVEL mm-dd hh:mm:ss [file.py:line] message`."""
    stamp = time.strftime("%m-%d %H:%M:%S")
    for line in message.splitlines() or [""]:
        print(f"{level} {stamp} [{source}] {line}", flush=True)


def fail(source: str, error_type: str, message: str, frames: list[str]) -> None:
    """Log a fatal error with a traceback like vLLM's, then exit 1."""
    log(source, "EngineCore failed to start.", "ERROR")
    lines = ["Traceback (most recent call last):"]
    for frame in frames:
        path, _, function = frame.partition(":")
        lines.append(f'  File "/usr/local/lib/python3.12/dist-packages/vllm/{path}", line 1, in {function}')
    lines.append(f"{error_type}: {message}")
    print("\n".join(lines), flush=True)
    log("api_server.py:1866", f"{error_type}: {message}", "ERROR")
    sys.stdout.flush()
    os._exit(1)
