"""Validators shared by inventory and recipe models: untrusted text stays plain data."""

from __future__ import annotations

import ipaddress
import re

# C1 controls and Unicode line separators too: terminals and editors treat them as escapes or line breaks.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Names become file names (`<name>.yaml`) and container labels; NAME_MAX is 255 bytes.
MAX_NAME = 128
# One-line values: far below the kernel's 128 KiB limit on one argument, and readable in a plan.
MAX_TEXT = 8192
# A path component may not exceed NAME_MAX (255 bytes); a whole path not PATH_MAX (4096 bytes).
MAX_COMPONENT = 255
MAX_PATH = 4095
SHOWN = 60
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ENV_NAME_PATTERN = re.compile(rf"^[A-Za-z_][A-Za-z0-9_]{{0,{MAX_NAME - 1}}}$")
ARG_NAME_PATTERN = re.compile(rf"^[a-z0-9][a-z0-9-]{{0,{MAX_NAME - 1}}}$")
SECRET_NAME_PATTERN = re.compile(
    r"(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|APIKEY|API_KEY|MASTER_KEY|ACCESS_KEY|PRIVATE_KEY)($|_)", re.IGNORECASE
)


def shown(value: str, limit: int = SHOWN) -> str:
    """Untrusted text as an error message may quote it: escaped, and cut short when long."""
    text = value if value.isprintable() else value.encode("unicode_escape").decode("ascii")
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(value):,} characters)"


def plain_text(value: str) -> str:
    """Refuse control characters (newlines break one-line commands), a leading '-' and runaway length."""
    if len(value) > MAX_TEXT:
        raise ValueError(f"is {len(value):,} characters long; the limit is {MAX_TEXT:,}")
    if _CONTROL.search(value):
        raise ValueError("contains a control character (newline, tab, ...); use plain one-line text")
    if value.startswith("-"):
        raise ValueError(f"'{shown(value)}' starts with '-', which a command would read as an option")
    return value


def name(value: str) -> str:
    """A node, recipe or label-safe name: letters, digits, '.', '_', '-', at most MAX_NAME characters."""
    if len(value) > MAX_NAME:
        raise ValueError(f"'{shown(value)}' is too long for a name; use at most {MAX_NAME} characters")
    plain_text(value)
    if not NAME_PATTERN.match(value):
        raise ValueError(f"'{shown(value)}' is not a valid name; use letters, digits, '.', '_' and '-'")
    return value


def name_list(value: str) -> str:
    """Comma-separated names (e.g. RDMA devices `rocep1s0f1,roceP2p1s0f1`), each a valid name."""
    for part in value.split(","):
        name(part.strip())
    return value


def local_path(value: str) -> str:
    """A path on this machine: one line, no longer than the OS allows."""
    plain_text(value)
    if len(_encoded(value)) > MAX_PATH:
        raise ValueError(f"is too long for a path; the limit is {MAX_PATH} bytes")
    if any(len(_encoded(part)) > MAX_COMPONENT for part in value.split("/")):
        raise ValueError(f"has a path component longer than {MAX_COMPONENT} bytes")
    return value


def _encoded(text: str) -> bytes:
    """Bytes of a path as the OS sees it; argv may carry undecodable bytes as surrogates."""
    return text.encode("utf-8", "surrogatepass")


def ip_literal(value: str) -> str:
    """An IP address literal; hostnames are refused because mDNS floods have crashed Sparks."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(
            f"'{shown(value)}' is not an IP address; use the node's IP, not a hostname "
            "(mDNS lookups under load have crashed Spark nodes)"
        ) from None


def env_name(value: str) -> str:
    """An environment variable name."""
    if not ENV_NAME_PATTERN.match(value):
        raise ValueError(f"'{shown(value)}' is not a valid environment variable name (letters, digits and '_', "
                         f"at most {MAX_NAME} characters)")
    return value


def is_secret_name(env_key: str) -> bool:
    """Whether an environment variable name looks like it holds a credential."""
    return bool(SECRET_NAME_PATTERN.search(env_key))


def mount_spec(value: str) -> str:
    """A `host:container[:ro|:rw]` mount with absolute (or ~/) host and absolute container paths."""
    plain_text(value)
    parts = value.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise ValueError(f"'{shown(value)}' is not 'host_path:container_path[:ro]'")
    host, container = parts[0], parts[1]
    local_path(host)
    local_path(container)
    if not (host.startswith("/") or host.startswith("~/")):
        raise ValueError(f"host path '{shown(host)}' must be absolute or start with '~/'")
    if not container.startswith("/"):
        raise ValueError(f"container path '{shown(container)}' must be absolute")
    return value


def ulimit_value(value: str | int) -> str:
    """A docker ulimit value: -1, N or SOFT:HARD."""
    text = str(value)
    if not re.fullmatch(r"-1|\d+(:(-1|\d+))?", text):
        raise ValueError(f"'{shown(text)}' is not a ulimit value; use -1 (unlimited), N or SOFT:HARD")
    return text


def url_host(ip: str) -> str:
    """An IP as it appears in a URL or host:port (IPv6 in brackets)."""
    return f"[{ip}]" if ":" in ip else ip
