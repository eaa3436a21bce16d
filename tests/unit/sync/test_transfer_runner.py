"""The executor's transfer phase with a local transport: each node is a HOME dir, its scripts run under bash."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from orchestrator.config.inventory import load_inventory
from orchestrator.errors import ConnectionFailed, ExecutionError
from orchestrator.plan.data import Plan
from orchestrator.remote.executor import Executor
from orchestrator.remote.transport import Held, Result, stdin_script
from orchestrator.sync import models, stream
from tests.sim.hfmodel import generate

MODEL = "bench/model"


class LocalChannel:
    """Just enough of a paramiko channel over a local bash process."""

    def __init__(self, process: subprocess.Popen):
        self.process, self.status_event = process, threading.Event()
        self.buffers = {"out": bytearray(), "err": bytearray()}
        self.lock = threading.Lock()
        readers = [threading.Thread(target=self._read, args=(process.stdout, "out"), daemon=True),
                   threading.Thread(target=self._read, args=(process.stderr, "err"), daemon=True)]
        for reader in readers:
            reader.start()
        threading.Thread(target=self._wait, args=(readers,), daemon=True).start()

    def _read(self, pipe, name):
        while chunk := os.read(pipe.fileno(), 65536):
            with self.lock:
                self.buffers[name] += chunk

    def _wait(self, readers):
        self.process.wait()
        for reader in readers:
            reader.join()
        self.status_event.set()

    def _take(self, name, size):
        with self.lock:
            data = bytes(self.buffers[name][:size])
            del self.buffers[name][:size]
        return data

    def recv_ready(self):
        return bool(self.buffers["out"])

    def recv_stderr_ready(self):
        return bool(self.buffers["err"])

    def recv(self, size):
        return self._take("out", size)

    def recv_stderr(self, size):
        return self._take("err", size)

    def exit_status_ready(self):
        return self.status_event.is_set()

    def recv_exit_status(self):
        self.status_event.wait()
        return self.process.returncode

    def shutdown_write(self):
        self.process.stdin.close()

    def close(self):
        if self.process.poll() is None:
            self.process.kill()


class LocalTransport:
    """hold() runs a script under bash with HOME set to the node's directory."""

    def __init__(self, homes: dict[str, Path]):
        self.homes = homes
        self.lost: set[str] = set()

    def hold(self, node, script, timeout):
        process = subprocess.Popen(["bash", "-se"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env={**os.environ, "HOME": str(self.homes[node.name])})
        process.stdin.write(stdin_script(script, None).encode())
        process.stdin.flush()
        return Held(node.name, LocalChannel(process), Result(node.name, 0, "", "", 0.0))

    def is_lost(self, name):
        return name in self.lost

    def lose(self, node, why):
        self.lost.add(node.name)
        return ConnectionFailed(why)


@pytest.fixture
def local(tmp_path, write):
    path = write("inventory.yaml", "nodes:\n  - {name: a, ip: 127.0.0.1, fabric_ip: 127.0.0.3}\n"
                                   "  - {name: b, ip: 127.0.0.2, fabric_ip: 127.0.0.4}\n")
    inventory = load_inventory(path)
    homes = {name: tmp_path / name for name in ("a", "b")}
    events = []
    return inventory, homes, Executor(LocalTransport(homes), inventory, events.append), events


def copy_plan(inventory):
    job = models.Job(MODEL, "main", "img", None, models.SyncOptions(streams=3))
    return Plan("t", (models.copy_phase(inventory.node("a"), [inventory.node("b")], job),))


def test_a_transfer_phase_copies_node_to_node_and_reports_what_it_moved(local):
    inventory, homes, executor, events = local
    size = generate(homes["a"], MODEL, 12, 3)
    report = executor.run(copy_plan(inventory))
    [moved] = stream.transfers(report, "model-copy")
    assert (moved.source, moved.target, moved.bytes) == ("a", "b", size)
    repo = ".cache/huggingface/hub/models--bench--model"
    assert sorted(os.listdir(homes["b"] / repo / "blobs")) == sorted(os.listdir(homes["a"] / repo / "blobs"))
    assert any(e.kind == "step-done" and "copy" in e.message for e in events)


def test_a_corrupt_source_blob_fails_naming_both_nodes_and_the_link(local):
    inventory, homes, executor, _events = local
    generate(homes["a"], MODEL, 4, 1)
    shard = next((homes["a"] / ".cache/huggingface/hub/models--bench--model/blobs").glob("*"))
    shard = max(shard.parent.iterdir(), key=lambda p: p.stat().st_size)
    data = bytearray(shard.read_bytes())
    data[7] ^= 1
    shard.write_bytes(bytes(data))
    with pytest.raises(ExecutionError, match=r"transfer a -> b over the fabric link \(127.0.0.4\): the receiver on b "
                                             r"failed: .*sha256"):
        executor.run(copy_plan(inventory))
