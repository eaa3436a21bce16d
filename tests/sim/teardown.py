"""Removing everything the harness made on the host, with or without a state file."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

from tests.sim import network, nodes
from tests.sim.shell import run, wait_until

SETTLE_TIMEOUT = 15.0


def kill_netns_processes(pids: list[int | None], netns_names: list[str]) -> None:
    """SIGKILL recorded PIDs and every process in the given netns; wait until they are gone."""
    for pid in pids:
        nodes.kill(pid)
    inodes = [i for i in (network.netns_inode(n) for n in netns_names) if i]
    for inode in inodes:
        for pid in nodes.pids_in_netns(inode):
            _sigkill(pid)
    wait_until(lambda: not any(nodes.pids_in_netns(i) for i in inodes), SETTLE_TIMEOUT, "node processes to exit")


def _sigkill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def mounts_under(root: Path) -> list[str]:
    """Host mount points at or below `root`, deepest first."""
    prefix = str(root.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount_under(root: Path) -> None:
    """Unmount whatever is mounted below `root` (e.g. nsfs files a dockerd left in its exec-root)."""
    for point in mounts_under(root):
        if run(["umount", point], check=False).returncode != 0:
            run(["umount", "-l", point], check=False)


def remove_files(root: Path) -> None:
    """Delete the files `up` created in the cluster directory, keeping the directory itself."""
    for name in ("nodes", "bin"):
        shutil.rmtree(root / name, ignore_errors=True)
    for name in (
        "state.json",
        "inventory.yaml",
        "ssh_config",
        "known_hosts",
        "id_ed25519",
        "id_ed25519.pub",
        "daemon.json",
        ".lock",
        "state.tmp",
    ):
        (root / name).unlink(missing_ok=True)


def processes_using(root: Path) -> list[int]:
    """PIDs of live processes whose command line names a path in `root` (sshd, dockerd, ...)."""
    needle = str(root.resolve()).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def leftovers(root: Path | None = None) -> list[str]:
    """Everything of the harness still present on the host, described for a human."""
    found = [f"netns {n}" for n in network.harness_netns()]
    found += [f"link {link}" for link in network.harness_links()]
    if root is not None:
        found += [f"mount {m}" for m in mounts_under(root)]
    return found


def teardown(root: Path, pids: list[int | None], owns_network: bool = True) -> None:
    """Kill, unmount, delete netns and links (when they are ours), and remove the cluster's files."""
    kill_netns_processes(pids, network.harness_netns() if owns_network else [])
    if owns_network:
        network.delete_all()
    unmount_under(root)
    remove_files(root)
