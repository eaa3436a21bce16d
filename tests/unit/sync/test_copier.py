"""The node-to-node copier on loopback: blobs verified by sha256 as they arrive, a stop by closing stdin."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from orchestrator.plan.transfer import PORT_ENV, TOKEN_ENV
from orchestrator.sync import models, stream

COMMIT = "c" * 40


def make_repo(root: Path, files: dict[str, bytes], record_sha256: bool = True) -> dict:
    """An HF cache repo: LFS-style blobs named by sha256, *.json as git files named by git's blob sha1."""
    manifest = {}
    for name, data in files.items():
        sha256 = hashlib.sha256(data).hexdigest()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() if name.endswith(".json") else sha256
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        (root / "blobs" / blob).write_bytes(data)
        link = root / "snapshots" / COMMIT / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(root / "blobs" / blob, link.parent))
        manifest[name] = [blob, len(data)] + ([sha256] if name.endswith(".json") and record_sha256 else [])
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(COMMIT)
    (root / ".sparkctl").mkdir()
    (root / ".sparkctl" / f"{COMMIT}.json").write_text(json.dumps({"commit": COMMIT, "files": manifest}))
    return manifest


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", stream.copier(), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def copy(source: Path, target: Path, streams: int = 3) -> tuple[subprocess.Popen, subprocess.Popen]:
    receiver = start("receive", "127.0.0.1", "files", str(target))
    port, token = receiver.stdout.readline().decode().removeprefix("listen=").split()
    sender = start("send", "127.0.0.1", "files", str(source), "main", str(streams), "0",
                   env={**os.environ, PORT_ENV: port, TOKEN_ENV: token})
    for process in (receiver, sender):
        process.wait(20)
    return receiver, sender


def test_a_copy_moves_every_blob_links_refs_and_the_manifest_last(tmp_path):
    files = {"config.json": b'{"a": 1}', **{f"model-{i}.safetensors": os.urandom(3 << 20) for i in range(4)}}
    make_repo(tmp_path / "src", files)
    receiver, sender = copy(tmp_path / "src", tmp_path / "dst")
    assert receiver.returncode == 0 and sender.returncode == 0, receiver.stderr.read() + sender.stderr.read()
    for name, data in files.items():
        assert (tmp_path / "dst" / "snapshots" / COMMIT / name).read_bytes() == data
    assert (tmp_path / "dst" / "refs" / "main").read_text() == COMMIT
    assert (tmp_path / "dst" / ".sparkctl" / f"{COMMIT}.json").is_file()
    assert not list((tmp_path / "dst" / "blobs").glob("*.sparkctl-part"))
    again, _ = copy(tmp_path / "src", tmp_path / "dst")
    assert b"received=0" in again.stdout.read()


def test_a_half_received_blob_resumes_where_it_stopped_and_a_bad_half_is_sent_again(tmp_path):
    data = os.urandom(3 << 20)
    manifest = make_repo(tmp_path / "src", {"model.safetensors": data})
    part = tmp_path / "dst" / "blobs" / (manifest["model.safetensors"][0] + ".sparkctl-part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1 << 20])
    receiver, _sender = copy(tmp_path / "src", tmp_path / "dst")
    assert receiver.returncode == 0 and f"received={2 << 20}".encode() in receiver.stdout.read()
    assert (tmp_path / "dst" / "snapshots" / COMMIT / "model.safetensors").read_bytes() == data
    (tmp_path / "dst" / "blobs" / manifest["model.safetensors"][0]).unlink()
    part.write_bytes(b"x" * (1 << 20))
    refused, _sender = copy(tmp_path / "src", tmp_path / "dst")
    assert refused.returncode != 0 and not part.exists()
    again, _sender = copy(tmp_path / "src", tmp_path / "dst")
    assert again.returncode == 0 and f"received={3 << 20}".encode() in again.stdout.read()


def test_a_blob_whose_sha256_differs_is_refused_and_never_takes_its_name(tmp_path):
    manifest = make_repo(tmp_path / "src", {"model.safetensors": os.urandom(1 << 20), "config.json": b"{}"})
    blob = tmp_path / "src" / "blobs" / manifest["model.safetensors"][0]
    data = bytearray(blob.read_bytes())
    data[1000] ^= 1
    blob.write_bytes(bytes(data))
    receiver, sender = copy(tmp_path / "src", tmp_path / "dst")
    assert receiver.returncode != 0 and b"sha256" in receiver.stderr.read()
    assert sender.returncode != 0 and b"the receiver refused" in sender.stderr.read()
    assert not (tmp_path / "dst" / "blobs" / blob.name).exists()
    assert not (tmp_path / "dst" / ".sparkctl").exists()


def test_a_blob_of_many_hash_regions_resumed_at_an_odd_offset_is_checked_to_its_last_byte(tmp_path):
    data = bytearray(os.urandom((20 << 20) + 12345))  # several 8 MiB regions, a ragged end
    manifest = make_repo(tmp_path / "src", {"model.safetensors": bytes(data)})
    part = tmp_path / "dst" / "blobs" / (manifest["model.safetensors"][0] + ".sparkctl-part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:(9 << 20) + 777])  # a resume point inside a page
    receiver, _sender = copy(tmp_path / "src", tmp_path / "dst")
    assert receiver.returncode == 0, receiver.stderr.read()
    assert (tmp_path / "dst" / "snapshots" / COMMIT / "model.safetensors").read_bytes() == data
    data[-1] ^= 1  # the source changes its very last byte: the copy must be refused
    blob = tmp_path / "src" / "blobs" / manifest["model.safetensors"][0]
    blob.write_bytes(bytes(data))
    (tmp_path / "dst" / "blobs" / blob.name).unlink()
    part.write_bytes(data[:(9 << 20) + 777])
    refused, _sender = copy(tmp_path / "src", tmp_path / "dst")
    assert refused.returncode != 0 and b"sha256" in refused.stderr.read()
    assert not (tmp_path / "dst" / "blobs" / blob.name).exists()


def test_a_git_file_is_checked_by_the_manifest_sha256_or_else_by_its_git_name(tmp_path):
    for record in (True, False):
        source, target = tmp_path / f"src-{record}", tmp_path / f"dst-{record}"
        manifest = make_repo(source, {"config.json": b'{"a": 1}'}, record_sha256=record)
        (source / "blobs" / manifest["config.json"][0]).write_bytes(b'{"a": 2}')
        receiver, _sender = copy(source, target)
        said = receiver.stderr.read()
        assert receiver.returncode != 0 and (b"sha256" if record else b"sha1") in said, said


def test_an_offer_naming_files_outside_the_repo_is_refused(tmp_path):
    manifest = make_repo(tmp_path / "src", {"w.safetensors": b"x" * 100})
    manifest["../../escape"] = manifest.pop("w.safetensors")
    (tmp_path / "src" / ".sparkctl" / f"{COMMIT}.json").write_text(json.dumps({"commit": COMMIT, "files": manifest}))
    receiver, _sender = copy(tmp_path / "src", tmp_path / "dst")
    assert receiver.returncode != 0 and b"outside the repo" in receiver.stderr.read()
    assert not (tmp_path / "escape").exists()


def test_closing_stdin_stops_the_receiver_at_once(tmp_path):
    receiver = start("receive", "127.0.0.1", "files", str(tmp_path / "dst"))
    assert receiver.stdout.readline().startswith(b"listen=")
    started = time.monotonic()
    receiver.stdin.close()
    assert receiver.wait(5) == 3 and time.monotonic() - started < 1


def test_a_wrong_token_is_turned_away(tmp_path):
    make_repo(tmp_path / "src", {"model.safetensors": b"x" * 1000})
    receiver = start("receive", "127.0.0.1", "files", str(tmp_path / "dst"))
    port, _token = receiver.stdout.readline().decode().removeprefix("listen=").split()
    sender = start("send", "127.0.0.1", "files", str(tmp_path / "src"), "main", "2", "0",
                   env={**os.environ, PORT_ENV: port, TOKEN_ENV: "0" * 32})
    assert sender.wait(20) != 0 and b"127.0.0.1 closed the connection" in sender.stderr.read()
    receiver.kill()
    receiver.wait(5)


def test_the_verifier_removes_exactly_the_blobs_whose_content_differs(tmp_path):
    manifest = make_repo(tmp_path, {"config.json": b'{"a": 1}', "w.safetensors": os.urandom(1 << 16), "x.json": b"{}"},
                         record_sha256=False)
    (tmp_path / "blobs" / manifest["w.safetensors"][0]).write_bytes(b"y" * (1 << 16))
    (tmp_path / "blobs" / manifest["config.json"][0]).write_bytes(b'{"a": 2}')
    said = subprocess.run([sys.executable, "-c", models.verifier(), str(tmp_path), "main"], capture_output=True,
                          text=True, check=True).stdout
    assert 'bad=["config.json", "w.safetensors"]' in said and "hashed=3" in said
    assert os.listdir(tmp_path / "blobs") == [manifest["x.json"][0]]
