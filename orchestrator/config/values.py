"""Validators shared by inventory and recipe models: untrusted text stays plain data."""

from __future__ import annotations

import ipaddress
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ARG_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SECRET_NAME_PATTERN = re.compile(
    r"(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|APIKEY|API_KEY|MASTER_KEY|ACCESS_KEY|PRIVATE_KEY)($|_)", re.IGNORECASE
)


def plain_text(value: str) -> str:
    """Refuse control characters (newlines break one-line commands) and a leading '-'."""
    if _CONTROL.search(value):
        raise ValueError("contains a control character (newline, tab, ...); use plain one-line text")
    if value.startswith("-"):
        raise ValueError(f"'{value}' starts with '-', which a command would read as an option")
    return value


def name(value: str) -> str:
    """A node, recipe or label-safe name: letters, digits, '.', '_', '-'."""
    plain_text(value)
    if not NAME_PATTERN.match(value):
        raise ValueError(f"'{value}' is not a valid name; use letters, digits, '.', '_' and '-'")
    return value


def ip_literal(value: str) -> str:
    """An IP address literal; hostnames are refused because mDNS floods have crashed Sparks."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(
            f"'{value}' is not an IP address; use the node's IP, not a hostname "
            "(mDNS lookups under load have crashed Spark nodes)"
        ) from None


def env_name(value: str) -> str:
    """An environment variable name."""
    if not ENV_NAME_PATTERN.match(value):
        raise ValueError(f"'{value}' is not a valid environment variable name")
    return value


def is_secret_name(env_key: str) -> bool:
    """Whether an environment variable name looks like it holds a credential."""
    return bool(SECRET_NAME_PATTERN.search(env_key))


def mount_spec(value: str) -> str:
    """A `host:container[:ro|:rw]` mount with absolute (or ~/) host and absolute container paths."""
    plain_text(value)
    parts = value.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise ValueError(f"'{value}' is not 'host_path:container_path[:ro]'")
    host, container = parts[0], parts[1]
    if not (host.startswith("/") or host.startswith("~/")):
        raise ValueError(f"host path '{host}' must be absolute or start with '~/'")
    if not container.startswith("/"):
        raise ValueError(f"container path '{container}' must be absolute")
    return value


def ulimit_value(value: str | int) -> str:
    """A docker ulimit value: -1, N or SOFT:HARD."""
    text = str(value)
    if not re.fullmatch(r"-1|\d+(:(-1|\d+))?", text):
        raise ValueError(f"'{text}' is not a ulimit value; use -1 (unlimited), N or SOFT:HARD")
    return text


def url_host(ip: str) -> str:
    """An IP as it appears in a URL or host:port (IPv6 in brackets)."""
    return f"[{ip}]" if ":" in ip else ip
