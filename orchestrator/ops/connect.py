"""`connect claude`: the environment Claude Code needs for the running deployment, printed or given to a command.

vLLM implements the Anthropic Messages API itself, so Claude Code talks to the deployment's endpoint (the LiteLLM
proxy for `replicas`) with the key clients send as ANTHROPIC_AUTH_TOKEN (sent as `Authorization: Bearer`, which
vLLM's --api-key checks) and the served model in every model slot Claude Code reads.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

from orchestrator.config.settings import Settings
from orchestrator.errors import ConfigError
from orchestrator.ops.credentials import client_key
from orchestrator.plan.shell import quote
from orchestrator.remote.session import Session, session
from orchestrator.remote.state import Container, entry_point, selected
from orchestrator.report import console

KEY_VAR = "ANTHROPIC_AUTH_TOKEN"
MODEL_VARS = ("ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL",
              "ANTHROPIC_DEFAULT_HAIKU_MODEL", "CLAUDE_CODE_SUBAGENT_MODEL")
# A real Anthropic key in the user's shell would be sent along (as x-api-key) to the cluster: never hand it on.
DROPPED = ("ANTHROPIC_API_KEY",)


def connect_claude(settings: Settings, command: tuple[str, ...] = (), tunnel: bool = False, local_port: int = 0,
                   seconds: float | None = None, name: str | None = None) -> int:
    """Print the environment (or run command in it); with tunnel, through an SSH forward that lives as long.

    name picks one deployment when several run (a stack's deployment name, or an id).
    """
    inventory = settings.load_inventory()
    with (session(settings, inventory, quiet=True) as current,
          _endpoint(current, tunnel, local_port, name) as (base_url, live)):
        env = claude_env(base_url, live)
        if not command:
            _print(env, settings.json)
            if tunnel:
                _hold(seconds)
            return 0
        if tunnel:
            return run_in(env, command)
    return run_in(env, command)


@contextlib.contextmanager
def _endpoint(current: Session, tunnel: bool, local_port: int,
              name: str | None = None) -> Iterator[tuple[str, list[Container]]]:
    """The base URL clients use (the LAN endpoint, or a local SSH forward to it) and the live containers."""
    live = selected(current.containers(current.inventory.nodes), name)
    node, port, serving = entry_point(live, current.inventory)
    if not tunnel:
        endpoint = urlsplit(serving.labels.get("sparkctl.endpoint", ""))
        yield f"{endpoint.scheme}://{endpoint.netloc}", live
        return
    with current.transport.forward(node, port, local_port) as local:
        console.warn(f"tunnel: http://127.0.0.1:{local} -> {node.name} 127.0.0.1:{port}")
        yield f"http://127.0.0.1:{local}", live


def claude_env(base_url: str, live: list[Container]) -> dict[str, str]:
    """ANTHROPIC_BASE_URL (without /v1: the client adds it), the key, and the served model in every model slot."""
    running = [c for c in live if c.running and c.labels.get("sparkctl.served-name")]
    model = running[0].labels["sparkctl.served-name"]
    return {"ANTHROPIC_BASE_URL": base_url, KEY_VAR: client_key(live), **dict.fromkeys(MODEL_VARS, model)}



def _print(env: dict[str, str], as_json: bool) -> None:
    """Shell lines for `eval "$(sparkctl connect claude)"`, or one JSON object; the key only on stdout."""
    if as_json:
        console.emit_json(env)
        return
    for name in DROPPED:
        console.info(f"unset {name}")
    for name, value in env.items():
        console.info(f"export {name}={quote(value)}")


def _hold(seconds: float | None) -> None:
    """Keep the tunnel open until Ctrl-C (or for seconds)."""
    console.warn("the tunnel stays open until Ctrl-C")
    try:
        threading.Event().wait(seconds)
    except KeyboardInterrupt:
        console.warn("tunnel closed")


def run_in(env: dict[str, str], command: tuple[str, ...]) -> int:
    """Run command with env added (the key in its environment, never its argv); its exit status is ours.

    Ctrl-C belongs to the command (Claude Code cancels a turn with it), so sparkctl ignores it meanwhile.
    """
    environ = {k: v for k, v in os.environ.items() if k not in DROPPED} | env
    try:
        process = subprocess.Popen(list(command), env=environ)
    except FileNotFoundError:
        raise ConfigError(f"--exec: {command[0]}: command not found") from None
    previous = signal.signal(signal.SIGINT, _ignore)
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def _ignore(_signum, _frame) -> None:
    """A handler, not SIG_IGN: the command still gets Ctrl-C's default behaviour after exec."""
