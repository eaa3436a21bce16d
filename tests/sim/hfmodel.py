"""A model written straight into a node's HF cache (blobs, symlinked snapshot, refs, manifest): no hub needed."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def generate(home: Path, model: str, total_mb: int, shards: int) -> int:
    """Write model's repo into a node's HF cache with random shards; return its bytes."""
    repo = home / ".cache/huggingface/hub" / ("models--" + model.replace("/", "--"))
    commit = hashlib.sha1(f"{model}-{total_mb}-{shards}".encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    for folder in (repo / "blobs", snapshot, repo / "refs", repo / ".sparkctl"):
        folder.mkdir(parents=True, exist_ok=True)
    files = {"config.json": b'{"model_type": "bench"}'}
    files |= {f"model-{i:05d}-of-{shards:05d}.safetensors": b"" for i in range(1, shards + 1)}
    manifest = {}
    for name, data in files.items():
        size = len(data) or total_mb * (1 << 20) // shards
        blob = _write_blob(repo / "blobs", data, size)
        (snapshot / name).symlink_to(f"../../blobs/{blob}")
        manifest[name] = [blob, size]
    (repo / "refs" / "main").write_text(commit)
    (repo / ".sparkctl" / f"{commit}.json").write_text(json.dumps({"commit": commit, "files": manifest}))
    return sum(size for _, size in manifest.values())


def _write_blob(blobs: Path, data: bytes, size: int) -> str:
    digest, partial = hashlib.sha256(), blobs / "partial"
    with partial.open("wb") as out:
        left = size
        while left:
            chunk = data or os.urandom(min(left, 8 << 20))
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    partial.rename(blobs / digest.hexdigest())
    return digest.hexdigest()
