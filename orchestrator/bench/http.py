"""HTTP from the workstation to an endpoint `bench` measures."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

HTTP_TIMEOUT = 5.0


def http_json(url: str, body: dict | None = None, api_key: str | None = None, timeout: float = HTTP_TIMEOUT):
    """GET (or POST body) and decode JSON; raises OSError/ValueError on failure."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", "application/json")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw else {}


def http_problem(exc: Exception) -> str:
    """A short reason for a failed HTTP call: the status code, or the connection error."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = getattr(exc, "reason", None)
    return str(reason or exc)[:120]
