"""Model cache states, what a copy sends, image identity choice and the rendered sync scripts."""

from __future__ import annotations

import json

import pytest

from orchestrator.errors import ExecutionError
from orchestrator.plan.hfcache import CacheState, blob_bytes, repo_dir
from orchestrator.sync import images, stream

COMMIT = "a" * 40
MANIFEST = {"commit": COMMIT, "files": {"config.json": ["c1", 10], "model.safetensors": ["b1", 1000]}}


def state(node="n", commit=COMMIT, blobs=None, links=None, manifest=MANIFEST, refs=("refs/main",)):
    blobs = {"c1": 10, "b1": 1000} if blobs is None else blobs
    links = {"config.json": "c1", "model.safetensors": "b1"} if links is None else links
    return CacheState(node, commit, blobs, links, manifest, refs)


def test_a_full_snapshot_with_manifest_is_complete():
    assert state().complete and state().problems() == []


def test_files_the_manifest_does_not_list_are_strays_not_problems():
    links = {"config.json": "c1", "model.safetensors": "b1", "notes.txt": None, "extra/link": "zz"}
    assert state(links=links).problems() == [] and state(links=links).complete
    assert state(links=links).strays() == ["extra/link", "notes.txt"]


def test_manifest_entries_may_carry_a_sha256_for_git_files():
    manifest = {"commit": COMMIT, "files": {"config.json": ["c1", 10, "e" * 64], "model.safetensors": ["b1", 1000]}}
    assert state(manifest=manifest).complete and blob_bytes(manifest, state(blobs={})) == 1010


def test_problems_name_missing_half_written_and_dangling_files():
    broken = state(blobs={"c1": 10, "b1": 400}, links={"config.json": None}, manifest=None)
    assert not broken.complete
    assert broken.problems(MANIFEST) == ["config.json: dangling link", "model.safetensors: missing"]
    half = state(blobs={"c1": 10, "b1": 400})
    assert half.problems() == ["model.safetensors: size 400 of 1000"]
    assert state(commit=None).problems(MANIFEST) == ["not in the cache"]
    assert state(manifest=None).problems() == ["no finished download or copy (no manifest)"]


def test_parse_reads_the_checker_line():
    line = "model_state=" + json.dumps({"commit": COMMIT, "blobs": {"b1": 5}, "links": {"x": None},
                                        "manifest": None, "refs": ["refs/main"]})
    parsed = CacheState.parse("spark1", "noise\n" + line + "\n")
    assert parsed.commit == COMMIT and parsed.links == {"x": None} and parsed.refs == ("refs/main",)
    assert CacheState.parse("spark1", "").problems() == ["not in the cache"]


def test_repo_dir_follows_the_hf_cache_layout():
    assert repo_dir("openai/gpt-oss-120b") == "models--openai--gpt-oss-120b"


def test_reference_is_the_identity_most_nodes_hold_and_refuses_when_none_has_it():
    assert images.reference({"a": "x", "b": "y", "c": "y"}, "img") == "y"
    assert images.reference({"a": "missing", "b": "x", "c": "y"}, "img") == "x"
    with pytest.raises(ExecutionError, match="on none of a, b"):
        images.reference({"a": "missing", "b": "missing"}, "img")


def test_transfer_rate_and_human_bytes():
    assert stream.human_bytes(1536) == "1.5 KiB"
    assert stream.Transfer("a", "b", 2 << 20, 2.0).rate == "1.0 MiB/s"
