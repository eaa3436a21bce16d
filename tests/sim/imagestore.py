"""A dockerd data-root with the images already loaded, built once and cloned into every node.

`docker load` unpacks every layer again for every node (seconds per node and per start); a clone
hard-links the read-only layer files instead, and copies the small mutable databases.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.sim import engine, nodes
from tests.sim.shell import SimError, run, wait_until

BUILD_TIMEOUT = 600.0
KEEP_STORES = 2


def store_for(tarballs: list[Path], cache_dir: Path) -> Path:
    """The cached data-root holding `tarballs`, built now if missing."""
    key = hashlib.sha256("\n".join(t.name for t in tarballs).encode() + _dockerd_version()).hexdigest()[:16]
    store = cache_dir / f"engine-{key}"
    with (cache_dir / "engine.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (store / ".complete").exists():
            shutil.rmtree(store, ignore_errors=True)
            _build(store, tarballs)
            (store / ".complete").touch()
            _prune(cache_dir, keep=store)
    return store


def clone(store: Path, data_root: Path) -> None:
    """Give a node its own data-root: layers hard-linked from the store, everything else copied."""
    shutil.rmtree(data_root, ignore_errors=True)
    data_root.mkdir(parents=True)
    for entry in store.iterdir():
        if entry.name.startswith("."):
            continue
        # Layer directories are never written after a load; the databases beside them are.
        flags = "-al" if entry.name == "overlay2" else "-a"
        run(["cp", flags, str(entry), str(data_root / entry.name)], timeout=300)


def _build(store: Path, tarballs: list[Path]) -> None:
    """Load the tarballs with a throwaway dockerd in private namespaces, then stop it cleanly."""
    store.mkdir(parents=True)
    socket = store.parent / f"engine-build-{os.getpid()}.sock"
    pid = _start_build_daemon(store, socket)
    try:
        wait_until(lambda: _answers(socket, pid), 60, f"the image-store dockerd (log {store}/.build.log)")
        for tarball in tarballs:
            run([engine.HOST_DOCKER, "-H", f"unix://{socket}", "load", "-q", "-i", str(tarball)], timeout=BUILD_TIMEOUT)
    finally:
        _stop(pid)
        socket.unlink(missing_ok=True)


def _start_build_daemon(store: Path, socket: Path) -> int:
    (store / ".daemon.json").write_text("{}\n")
    flags = "--bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false"
    script = "\n".join(nodes.cgroup_mount_lines()) + (
        "\nmount -t tmpfs tmpfs /run && exec /usr/sbin/dockerd "
        f"--config-file '{store}/.daemon.json' --data-root '{store}' --exec-root /run/docker -H 'unix://{socket}' {flags}"
    )
    argv = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", script]
    with (store / ".build.log").open("ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    process.returncode = 0  # reaped by nodes.kill; the PID is what we keep
    return process.pid


def _answers(socket: Path, pid: int) -> bool:
    if not nodes.is_alive(pid):
        raise SimError("the image-store dockerd exited while starting")
    return engine.ping_socket(socket)


def _stop(pid: int) -> None:
    """SIGTERM the daemon so it closes its databases, then make sure everything is gone."""
    daemon = nodes.first_child(pid)
    if daemon:
        with contextlib.suppress(ProcessLookupError):
            os.kill(daemon, signal.SIGTERM)
        with contextlib.suppress(SimError):
            wait_until(lambda: not nodes.is_alive(daemon), 30, "the image-store dockerd to stop")
    nodes.kill(pid)


def _prune(cache_dir: Path, keep: Path) -> None:
    """Remove older stores beyond the newest few."""
    stores = [p for p in cache_dir.glob("engine-*") if p.is_dir() and p != keep]
    for old in sorted(stores, key=lambda p: p.stat().st_mtime, reverse=True)[KEEP_STORES - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def _dockerd_version() -> bytes:
    return run(["/usr/sbin/dockerd", "--version"]).stdout.encode()
