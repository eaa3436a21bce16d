"""Model cache states, what a copy sends, image identity choice and the rendered sync scripts."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time

import pytest

from orchestrator.errors import ExecutionError
from orchestrator.plan.hfcache import CacheState, blob_bytes, missing_paths, repo_dir
from orchestrator.plan.templates import render
from orchestrator.sync import images, stream

COMMIT = "a" * 40
MANIFEST = {"commit": COMMIT, "files": {"config.json": ["c1", 10], "model.safetensors": ["b1", 1000]}}


def state(node="n", commit=COMMIT, blobs=None, links=None, manifest=MANIFEST, refs=("refs/main",)):
    blobs = {"c1": 10, "b1": 1000} if blobs is None else blobs
    links = {"config.json": "c1", "model.safetensors": "b1"} if links is None else links
    return CacheState(node, commit, blobs, links, manifest, refs)


def test_a_full_snapshot_with_manifest_is_complete():
    assert state().complete and state().problems() == []


def test_problems_name_missing_half_written_and_dangling_files():
    broken = state(blobs={"c1": 10, "b1": 400}, links={"config.json": None}, manifest=None)
    assert not broken.complete
    assert broken.problems(MANIFEST) == ["config.json: dangling link", "model.safetensors: missing"]
    half = state(blobs={"c1": 10, "b1": 400})
    assert half.problems() == ["model.safetensors: size 400 of 1000"]
    assert state(commit=None).problems(MANIFEST) == ["not in the cache"]
    assert state(manifest=None).problems() == ["no finished download or copy (no manifest)"]


def test_missing_paths_send_only_lacking_blobs_then_links_refs_and_manifest_last():
    target = state(blobs={"c1": 10, "b1": 400}, manifest=None)
    paths = missing_paths("org/m", state(), target)
    base = repo_dir("org/m")
    assert paths == [f"{base}/blobs/b1", f"{base}/snapshots/{COMMIT}/config.json",
                     f"{base}/snapshots/{COMMIT}/model.safetensors", f"{base}/refs/main",
                     f"{base}/.sparkctl/{COMMIT}.json"]
    assert blob_bytes(MANIFEST, target) == 1000


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


def test_send_script_quotes_every_path_and_keeps_the_token_out_of_argv():
    hostile = ["models--o--m/snapshots/x/$(touch pwned) file.json"]
    script = render("model_send", paths=hostile, sender=stream.SENDER, target_ip="10.78.0.12", port=4000)
    assert "'models--o--m/snapshots/x/$(touch pwned) file.json'" in script
    assert stream.TOKEN_ENV not in script.replace('os.environ["SPARKCTL_SYNC_TOKEN"]', "")


def test_transfer_rate_and_human_bytes():
    assert stream.human_bytes(1536) == "1.5 KiB"
    assert stream.Transfer("a", "b", 2 << 20, 2.0).rate == "1.0 MiB/s"


def test_receiver_progress_lines_are_passed_on():
    seen, out = [], bytearray(b"progress=10\nprogress=20\npart")
    stream._report(out, time.monotonic(), lambda count, _seconds: seen.append(count))
    assert seen == [20] and out == b"part"


def _receiver(tmp_path):
    announce_r, announce_w = os.pipe()
    out = (tmp_path / "received").open("wb")
    shell = f'exec 3>&{announce_w} {announce_w}>&-; exec "$0" -c "$1" 127.0.0.1 10'
    process = subprocess.Popen(["bash", "-c", shell, sys.executable, stream.RECEIVER], stdout=out,
                               stderr=subprocess.PIPE, pass_fds=(announce_w,))
    os.close(announce_w)
    announced = os.fdopen(announce_r, "rb")  # kept open: the receiver reports on it until it ends
    port, token = announced.readline().decode().removeprefix("listen=").split()
    process.announced = announced
    return process, int(port), token


def test_sender_and_receiver_move_bytes_and_a_wrong_token_is_ignored(tmp_path):
    receiver, port, token = _receiver(tmp_path)
    with socket.create_connection(("127.0.0.1", port)) as stranger:
        stranger.sendall(b"0" * len(token) + b"\n")
    payload = os.urandom(3 << 20)
    sent = subprocess.run([sys.executable, "-c", stream.SENDER, "127.0.0.1", str(port)], input=payload,
                          capture_output=True, env={**os.environ, stream.TOKEN_ENV: token}, check=True)
    assert receiver.wait(10) == 0
    assert (tmp_path / "received").read_bytes() == payload
    assert receiver.announced.read() == f"received={len(payload)}\n".encode()
    assert f"sent_bytes={len(payload)}" in sent.stdout.decode()


def test_a_stream_cut_before_its_end_mark_fails_the_receiver(tmp_path):
    receiver, port, token = _receiver(tmp_path)
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(token.encode() + b"\n" + struct.pack(">I", 100) + b"x" * 50)
    assert receiver.wait(10) != 0
    assert b"cut before its end" in receiver.stderr.read()
