"""A node's Hugging Face cache holding a model, laid out as huggingface_hub writes it (blobs, snapshot links, refs):
what a Spark looks like after `sparkctl models sync`, for tests that are not about getting the model there."""

from __future__ import annotations

import os
from pathlib import Path

from tests.sim.hub import Repo, generated_repo
from tests.sim.layout import SPARK_USER, NodeLayout

# Every model the built-in catalog and the tests' recipes name.
CATALOG_MODELS = (
    "openai/gpt-oss-120b", "openai/gpt-oss-20b", "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8",
    "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4",
)


def repo_dir(home: Path, model: str) -> Path:
    """Where huggingface_hub keeps a model under a home directory."""
    return home / ".cache" / "huggingface" / "hub" / f"models--{model.replace('/', '--')}"


def seed(home: Path, model: str, repo: Repo) -> None:
    """Write repo into home's HF cache: blobs by etag, snapshot links to them, refs/main naming the commit."""
    root = repo_dir(home, model)
    snapshot = root / "snapshots" / repo.commit
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    for name, data in repo.files.items():
        blob = root / "blobs" / repo.etag(name)
        blob.write_bytes(data)
        link = snapshot / name
        if not link.is_symlink():
            os.symlink(os.path.relpath(blob, link.parent), link)
    (root / "refs" / "main").write_text(repo.commit)


def seed_catalog(nodes: list[NodeLayout], models: tuple[str, ...] = CATALOG_MODELS) -> None:
    """Every node's caches (root's, and the spark user's when it exists) hold small stand-ins of these models."""
    repo = generated_repo(shards=1, shard_bytes=4096)
    for node in nodes:
        spark_home = node.homes / SPARK_USER
        for home in (node.home, *([spark_home] if spark_home.is_dir() else [])):
            for model in models:
                seed(home, model, repo)
            _own_like(home / ".cache", home)


def _own_like(tree: Path, owner: Path) -> None:
    """Give tree to owner's user, so a non-root SSH user can still write next to what was seeded."""
    stat = owner.stat()
    for path in (tree, *tree.rglob("*")):
        os.lchown(path, stat.st_uid, stat.st_gid)
