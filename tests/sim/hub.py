"""A Hugging Face Hub stand-in: serves small generated model repos over HTTP the way huggingface_hub reads them.

Endpoints: `GET /api/models/{repo}/revision/{rev}` (repo info with siblings and sha) and
`HEAD|GET /{repo}/resolve/{rev}/{file}` (ETag, X-Repo-Commit, Content-Length, Range; weights redirect to
`/cdn/{sha256}` with X-Linked-Etag and X-Linked-Size, as the real hub's LFS files do). Unknown repos get
404 with `X-Error-Code: RepoNotFound`; with `token` set, any other bearer token gets 401.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

HUB_HOST = "10.77.0.1"
LFS_SUFFIXES = (".safetensors", ".bin", ".gguf")


@dataclass
class Repo:
    """One model repo at one commit: file name to bytes."""

    files: dict[str, bytes]
    commit: str = ""

    def __post_init__(self) -> None:
        if not self.commit:
            digest = hashlib.sha1()
            for name in sorted(self.files):
                digest.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
            self.commit = digest.hexdigest()

    def etag(self, name: str) -> str:
        """The blob name huggingface_hub stores the file under."""
        return hashlib.sha256(self.files[name]).hexdigest()


def generated_repo(shards: int = 2, shard_bytes: int = 1 << 20, seed: int = 0) -> Repo:
    """A small model repo: config, tokenizer and random safetensors-like shards."""
    files = {"config.json": json.dumps({"model_type": "standin", "seed": seed}).encode(),
             "tokenizer.json": b'{"version": "1.0"}'}
    for index in range(1, shards + 1):
        files[f"model-{index:05d}-of-{shards:05d}.safetensors"] = os.urandom(shard_bytes)
    return Repo(files)


@dataclass
class Hub:
    """The server's state: repos by id, the token it accepts (None: any), and request counts."""

    repos: dict[str, Repo] = field(default_factory=dict)
    token: str | None = None
    requests: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str) -> None:
        """Count one request of a kind (info, head, get)."""
        with self.lock:
            self.requests[kind] += 1

    def downloads(self) -> int:
        """File bodies served."""
        return self.requests["get"]


class _Handler(BaseHTTPRequestHandler):
    hub: Hub

    def log_message(self, *_args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._serve(body=True)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if self.hub.token and self.headers.get("Authorization") != f"Bearer {self.hub.token}":
            return self._error(401, "Invalid credentials in Authorization header", "")
        if path.startswith("/api/models/") and "/revision/" in path:
            repo_id, _, revision = path.removeprefix("/api/models/").partition("/revision/")
            return self._info(repo_id, revision)
        if path.startswith("/cdn/"):
            return self._blob(path.removeprefix("/cdn/"), body)
        if "/resolve/" in path:
            repo_id, _, rest = path.lstrip("/").partition("/resolve/")
            revision, _, name = rest.partition("/")
            return self._file(repo_id, revision, name, body)
        return self._error(404, "not found", "EntryNotFound")

    def _repo(self, repo_id: str, revision: str) -> Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "Repository not found", "RepoNotFound")
        elif revision not in ("main", repo.commit):
            self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            repo = None
        return repo

    def _info(self, repo_id: str, revision: str) -> None:
        self.hub.count("info")
        repo = self._repo(repo_id, revision)
        if repo is not None:
            info = {"id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False,
                    "siblings": [{"rfilename": name} for name in sorted(repo.files)]}
            self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, True)

    def _file(self, repo_id: str, revision: str, name: str, body: bool) -> None:
        self.hub.count("get" if body else "head")
        repo = self._repo(repo_id, revision)
        if repo is None:
            return
        if name not in repo.files:
            return self._error(404, "Entry not found", "EntryNotFound")
        if name.endswith(LFS_SUFFIXES):  # like the real hub: LFS files redirect to a CDN, linked headers say what
            host, port = self.server.server_address[:2]
            headers = {"Location": f"http://{host}:{port}/cdn/{repo.etag(name)}", "X-Repo-Commit": repo.commit,
                       "X-Linked-Etag": f'"{repo.etag(name)}"', "X-Linked-Size": str(len(repo.files[name]))}
            return self._send(302, b"", headers, body)
        self._bytes(repo.files[name], {"ETag": f'"{repo.etag(name)}"', "X-Repo-Commit": repo.commit}, body)

    def _blob(self, digest: str, body: bool) -> None:
        self.hub.count("get" if body else "head")
        found = [data for repo in self.hub.repos.values() for name, data in repo.files.items()
                 if repo.etag(name) == digest]
        if not found:
            return self._error(404, "Entry not found", "EntryNotFound")
        self._bytes(found[0], {"ETag": f'"{digest}"'}, body)

    def _bytes(self, data: bytes, headers: dict[str, str], body: bool) -> None:
        start = _range_start(self.headers.get("Range"))
        headers = {**headers, "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        self._send(206 if start else 200, data[start:], headers, body)

    def _error(self, status: int, message: str, code: str) -> None:
        headers = {"X-Error-Message": message, "Content-Type": "application/json"}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), headers, True)

    def _send(self, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(key, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(data)


def _range_start(header: str | None) -> int:
    if not header or not header.startswith("bytes="):
        return 0
    return int(header.removeprefix("bytes=").split("-", 1)[0] or 0)


class HubServer:
    """Runs a Hub on host:port in a background thread; `url` is what HF_ENDPOINT gets."""

    def __init__(self, hub: Hub, host: str = HUB_HOST, port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"hub": hub})
        self.hub = hub
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()
