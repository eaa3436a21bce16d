"""Strict model loading (VLLM_STANDIN_STRICT=model): the weights come from the Hugging Face cache as vLLM finds them.

`vllm serve org/name` resolves `$HF_HUB_CACHE` (default `$HF_HOME/hub`, `$HF_HOME` default
`~/.cache/huggingface`) / `models--org--name`, `refs/<--revision or main>` -> commit, `snapshots/<commit>/`.
A local directory given as the model is used as is. What must be there: `config.json` and the weights
(the shards named by `model.safetensors.index.json`, else every `*.safetensors`, else `*.bin`).
Missing files are downloaded from `HF_ENDPOINT` (the hub stand-in, tests/sim/hub.py) into the cache layout
(blobs/<etag>, snapshot symlinks, refs) at VLLM_STANDIN_DOWNLOAD_BPS bytes/s (default 200 MB/s), with
HF_TOKEN as bearer token; with HF_HUB_OFFLINE=1 a missing snapshot fails as huggingface_hub does.
Every weight file must be a whole file: its size is checked against sparkctl's manifest
(`.sparkctl/<commit>.json`) or, online, the hub's; a dangling link or a short file fails the load with an
error line naming the file and exit 1, as a real vLLM fails reading it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from standin_log import fail, log

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_DOWNLOAD_BPS = 200e6
CHUNK = 1 << 16
TIMEOUT_S = 30
COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass
class Snapshot:
    """Where a model's files are (or go) and what size each weight file must have."""

    model: str
    revision: str
    root: Path | None  # models--org--name, None for a local directory
    path: Path | None  # the snapshot directory, None while unknown
    commit: str | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    remote: list[str] = field(default_factory=list)


def hub_cache() -> Path:
    """huggingface_hub's cache directory."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def endpoint() -> str:
    """The hub's base URL."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_fail(error_type: str, message: str) -> None:
    """Fail during config resolution, as vLLM does when huggingface_hub raises."""
    fail("config.py:611", error_type, message, ["engine/arg_utils.py:create_engine_config",
                                                 "transformers_utils/config.py:get_config"])


def request(url: str, method: str = "GET", start: int = 0) -> urllib.request.Request:
    """A hub request with the token, if any."""
    headers = {"User-Agent": "vllm-standin"}
    if os.environ.get("HF_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['HF_TOKEN']}"
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.Request(url, headers=headers, method=method)


def open_hub(url: str, method: str = "GET", start: int = 0):
    """Open a hub URL; hub errors become huggingface_hub's exceptions."""
    try:
        return urllib.request.urlopen(request(url, method, start), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        code = error.headers.get("X-Error-Code", "")
        if code == "RepoNotFound" or error.code == 401:
            hub_fail("huggingface_hub.errors.RepositoryNotFoundError",
                     f"{error.code} Client Error. Repository Not Found for url: {url}.")
        if code == "RevisionNotFound":
            hub_fail("huggingface_hub.errors.RevisionNotFoundError",
                     f"{error.code} Client Error. Revision Not Found for url: {url}.")
        hub_fail("huggingface_hub.errors.HfHubHTTPError", f"{error.code} Client Error for url: {url}")
    except OSError as error:
        hub_fail("OSError", f"We couldn't connect to '{endpoint()}' to load the files, and couldn't find them in "
                 f"the cached files. ({error})")
    raise AssertionError("unreachable")


def repo_info(model: str, revision: str, cached: bool) -> dict | None:
    """The hub's view of the repo; None when the hub cannot be reached but the cache has the snapshot."""
    url = f"{endpoint()}/api/models/{model}/revision/{revision}"
    if cached:
        try:
            urllib.request.urlopen(request(url, "HEAD"), timeout=TIMEOUT_S).close()
        except urllib.error.HTTPError:
            pass  # the hub answers: open_hub below reports what it says
        except OSError:
            log("hub.py:120", f"Could not reach {endpoint()}; using the cached snapshot of {model}", "WARNING")
            return None
    with open_hub(url) as response:
        return json.load(response)


def resolve(model: str, revision: str | None) -> Snapshot:
    """Find the snapshot of `model` at `revision` in the cache (or a local directory); ask the hub when online."""
    revision = revision or "main"
    if Path(model).is_dir():
        return Snapshot(model, revision, None, Path(model))
    root = hub_cache() / ("models--" + model.replace("/", "--"))
    commit = revision if COMMIT.fullmatch(revision) else None
    ref = root / "refs" / revision
    if commit is None and ref.is_file():
        commit = ref.read_text().strip()
    snapshot = Snapshot(model, revision, root, None, commit)
    cached = commit is not None and (root / "snapshots" / commit).is_dir()
    info = None if offline() else repo_info(model, revision, cached)
    if info is not None:
        snapshot.commit = info["sha"]
        snapshot.remote = [s["rfilename"] for s in info.get("siblings", [])]
    elif not cached:
        hub_fail("huggingface_hub.errors.LocalEntryNotFoundError",
                 "Cannot find an appropriate cached snapshot folder for the specified revision on the local disk "
                 "and outgoing traffic has been disabled. To enable repo look-ups and downloads online, set "
                 "'HF_HUB_OFFLINE=0' as environment variable.")
    snapshot.path = root / "snapshots" / snapshot.commit
    manifest = root / ".sparkctl" / f"{snapshot.commit}.json"
    if manifest.is_file():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            snapshot.sizes = {name: size for name, (_blob, size) in json.loads(manifest.read_text())["files"].items()}
    return snapshot


def weight_files(names: list[str]) -> list[str]:
    """The files vLLM loads: the index's shards, else *.safetensors, else *.bin (like its allow_patterns)."""
    return [n for n in names if n.endswith(".safetensors")] or [n for n in names if n.endswith((".bin", ".pt"))]


def snapshot_names(snapshot: Snapshot) -> list[str]:
    """Files in the snapshot directory, links included (dangling ones too)."""
    path = snapshot.path
    if path is None or not path.is_dir():
        return []
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_symlink() or p.is_file())


def required(snapshot: Snapshot) -> list[str]:
    """config.json and the weight files, from the index when there is one."""
    names = sorted(set(snapshot_names(snapshot)) | set(snapshot.remote))
    index = snapshot.path / "model.safetensors.index.json" if snapshot.path else None
    if index and index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            return ["config.json", *shards]
        except (ValueError, KeyError):
            pass
    return ["config.json", *weight_files(names)]


def remote_size(snapshot: Snapshot, name: str) -> int | None:
    """The size the hub reports for one file (X-Linked-Size for LFS files, else Content-Length)."""
    url = f"{endpoint()}/{snapshot.model}/resolve/{snapshot.commit}/{name}"
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request(url, "HEAD"), timeout=TIMEOUT_S) as response:
            return int(response.headers.get("X-Linked-Size") or response.headers.get("Content-Length") or 0)
    except urllib.error.HTTPError as error:
        if error.code in (301, 302, 307):
            return int(error.headers.get("X-Linked-Size") or 0) or None
        return None
    except OSError:
        return None


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Keep the 302 of an LFS file: its headers carry the size and the blob name."""

    def redirect_request(self, *args, **kwargs):
        return None


def download(snapshot: Snapshot, name: str) -> None:
    """Fetch one file into blobs/, link it from the snapshot, at the configured rate (resuming a partial blob)."""
    url = f"{endpoint()}/{snapshot.model}/resolve/{snapshot.commit}/{name}"
    opener = urllib.request.build_opener(NoRedirect)
    try:
        head = opener.open(request(url, "HEAD"), timeout=TIMEOUT_S)
        headers, target = head.headers, url
    except urllib.error.HTTPError as error:
        if error.code not in (301, 302, 307):
            open_hub(url, "HEAD")
        headers, target = error.headers, error.headers["Location"]
    except OSError:
        open_hub(url, "HEAD")
        raise
    etag = (headers.get("X-Linked-Etag") or headers.get("ETag") or "").strip('"').removeprefix("W/").strip('"')
    blobs = snapshot.root / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    blob, partial = blobs / etag, blobs / f"{etag}.incomplete"
    rate = float(os.environ.get("VLLM_STANDIN_DOWNLOAD_BPS") or DEFAULT_DOWNLOAD_BPS)
    if not blob.is_file():
        start = partial.stat().st_size if partial.exists() else 0
        with open_hub(target, "GET", start) as response, partial.open("ab") as out:
            if start and response.status != 206:
                out.truncate(0)
            began, done = time.monotonic(), 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                ahead = done / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
        os.replace(partial, blob)
    link = snapshot.path / name
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(blob, link.parent))


def whole(path: Path, expected: int | None) -> str | None:
    """Why a file cannot be read whole, or None."""
    if path.is_symlink() and not path.exists():
        return "dangling"
    if not path.is_file():
        return "missing"
    if expected is not None and path.stat().st_size != expected:
        return f"short: {path.stat().st_size} of {expected} bytes"
    if path.stat().st_size == 0:
        return "empty"
    return None


def fetch_config(args) -> Snapshot:
    """Config resolution (vLLM's create_engine_config): find the snapshot, download config.json if missing."""
    snapshot = resolve(args.model, getattr(args, "revision", None))
    config = snapshot.path / "config.json"
    if not config.is_file() and snapshot.remote and "config.json" in snapshot.remote:
        download(snapshot, "config.json")
    if not config.is_file():
        hub_fail("OSError" if snapshot.root else "ValueError",
                 f"Invalid repository ID or local directory specified: '{args.model}'. Please verify the "
                 f"following requirements: 1. Provide a valid Hugging Face repository ID. 2. Specify a local "
                 f"directory that contains a recognized configuration file. (no config.json in {snapshot.path})")
    return snapshot


def load_weights(snapshot: Snapshot) -> list[str]:
    """The worker's weight download and load: fetch what is missing online, then check every file is whole."""
    names = [n for n in required(snapshot) if n != "config.json"]
    if not names:
        fail("weight_utils.py:473", "RuntimeError", f"Cannot find any model weights with `{snapshot.model}`",
             ["model_executor/model_loader/default_loader.py:_prepare_weights"])
    if snapshot.remote:
        log("weight_utils.py:440", "Using model weights format ['*.safetensors']")
        for name in names:
            expected = snapshot.sizes.get(name) or remote_size(snapshot, name)
            if expected:
                snapshot.sizes[name] = expected
            if whole(snapshot.path / name, expected) is not None:
                started = time.monotonic()
                download(snapshot, name)
                log("weight_utils.py:454", f"Downloaded {name} in {time.monotonic() - started:.2f} s")
        ref = snapshot.root / "refs" / snapshot.revision
        if not COMMIT.fullmatch(snapshot.revision):
            ref.parent.mkdir(parents=True, exist_ok=True)
            ref.write_text(snapshot.commit)
    for name in names:
        path = snapshot.path / name
        problem = whole(path, snapshot.sizes.get(name))
        if problem in ("dangling", "missing"):
            target = os.readlink(path) if path.is_symlink() else ""
            log("weight_utils.py:520", f"Failed to open {path}" + (f" -> {target}" if target else ""), "ERROR")
            fail("weight_utils.py:520", "FileNotFoundError", f"[Errno 2] No such file or directory: '{path}'",
                 ["model_executor/model_loader/weight_utils.py:safetensors_weights_iterator"])
        if problem is not None:
            log("weight_utils.py:520", f"Failed to load {path}: {problem}", "ERROR")
            fail("weight_utils.py:520", "safetensors_rust.SafetensorError",
                 "Error while deserializing header: MetadataIncompleteBuffer",
                 ["model_executor/model_loader/weight_utils.py:safetensors_weights_iterator"])
    return names
