"""Booting and killing one simulated node: an unshare'd process tree in the node's netns."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
from pathlib import Path

from tests.sim import engine, scheduler, strict
from tests.sim.files import NODE_PATH
from tests.sim.layout import ClusterLayout, NodeLayout
from tests.sim.options import DEFAULT_OPTIONS, SimOptions
from tests.sim.shell import SimError, wait_until

NODE_VAR_LIB = Path("/var/lib/sparkctl")
BOOT_TIMEOUT = 20.0
KILL_TIMEOUT = 10.0
_MOUNT_OPTS_TO_DROP = {"rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec"}


def cgroup_mount_lines() -> list[str]:
    """Shell lines re-mounting the host's cgroup hierarchies, which `ip netns exec` hides with a new /sys."""
    lines = ['if [ -z "$(ls /sys/fs/cgroup)" ]; then', "mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup"]
    # The host init's view: this process may itself run with a fresh /sys (e.g. a dev sandbox).
    for entry in Path("/proc/1/mounts").read_text().splitlines():
        _, target, fstype, options = entry.split()[:4]
        if not target.startswith("/sys/fs/cgroup/") or fstype not in ("cgroup", "cgroup2"):
            continue
        kept = [o for o in options.split(",") if o not in _MOUNT_OPTS_TO_DROP]
        if any(o.startswith("name=") for o in kept) and len(kept) == 1:
            kept.insert(0, "none")
        opts = f" -o {','.join(kept)}" if kept else ""
        lines.append(f"mkdir -p {target} && mount -t {fstype}{opts} {fstype} {target}")
    return [*lines, "fi"]


def boot_script(node: NodeLayout, cluster: ClusterLayout, docker: bool, options: SimOptions = DEFAULT_OPTIONS) -> str:
    """The shell script run as the node's first process: private mounts, dockerd, then sshd."""
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "set -eu",
        f"hostname {node.name}",
        *cgroup_mount_lines(),
        *strict.boot_lines(node, options),
        "mount -t tmpfs -o mode=1777 tmpfs /tmp",
        "mount -t tmpfs -o mode=1777 tmpfs /dev/shm",
        "mount -t tmpfs -o mode=755 tmpfs /run",
        "mkdir -p /run/sshd",
        f"mount --bind {q(str(node.home))} /root",
        f"mount --bind {q(str(node.var_lib))} {NODE_VAR_LIB}",
        f"mount --bind {q(str(node.drop_caches))} /proc/sys/vm/drop_caches",
        f"mount --bind {q(str(node.meminfo))} /proc/meminfo",
        *scheduler.boot_lines(node),
    ]
    if docker:
        lines += engine.dockerd_lines(node, cluster)
    sshd = f"/usr/sbin/sshd -D -f {q(str(node.sshd_config))} -E {q(str(node.sshd_log))}"
    # docker-init (tini) as PID 1 reaps the orphans every node accumulates.
    lines.append(f"exec /usr/bin/docker-init -- {sshd}")
    return "\n".join(lines) + "\n"


def start(node: NodeLayout, cluster: ClusterLayout, docker: bool, options: SimOptions = DEFAULT_OPTIONS) -> int:
    """Launch the node's process tree in its netns; return the host PID of `unshare`."""
    NODE_VAR_LIB.mkdir(parents=True, exist_ok=True)
    node.boot_script.write_text(boot_script(node, cluster, docker, options))
    unshare = ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "--kill-child", "--mount"]
    argv = ["ip", "netns", "exec", node.netns, *unshare, "--", "/bin/sh", str(node.boot_script)]
    env = {"PATH": NODE_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
    with node.console_log.open("ab") as console:
        # A new session: the node outlives the `up` command and ignores the terminal's Ctrl-C.
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    _forget(process)
    return process.pid


def _forget(process: subprocess.Popen) -> None:
    """Drop the Popen handle without a ResourceWarning; the PID is what we keep."""
    process.returncode = 0


def wait_ready(node: NodeLayout, pid: int, docker: bool, timeout: float = BOOT_TIMEOUT) -> None:
    """Wait until the node's sshd accepts TCP connections (and its dockerd answers, if any)."""

    def ready() -> bool:
        if not is_alive(pid):
            raise SimError(f"{node.name} died while booting; see {node.console_log}:\n{_tail(node.console_log)}")
        return port_open(node.ip, 22) and (not docker or engine.ping(node))

    wait_until(ready, timeout, f"{node.name} to boot (see {node.console_log})")


def port_open(host: str, port: int) -> bool:
    """Whether a TCP connection to host:port succeeds right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def is_alive(pid: int | None) -> bool:
    """Whether `pid` names a live, non-zombie process."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill(pid: int | None, timeout: float = KILL_TIMEOUT) -> None:
    """SIGKILL a node by its recorded `unshare` PID and wait until the node is gone.

    The node's PID 1 dies first, so `unshare` reaps it and exits, and we reap `unshare` when it is
    our child: no zombie is left behind (this machine's init does not reap orphans).
    """
    if not is_alive(pid):
        return
    init = first_child(pid)
    for victim in (init, pid):
        if victim:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
            wait_until(lambda v=victim: _reaped(v), timeout, f"PID {victim} of a node to exit")


def _reaped(pid: int) -> bool:
    """Collect `pid`'s exit status if it is our child (no zombie left); true once it is gone."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return not is_alive(pid)


def runs_node(pid: int | None, node: NodeLayout) -> bool:
    """Whether `pid` is alive and still this node's `unshare` (PIDs get reused after a crash or reboot)."""
    if not is_alive(pid):
        return False
    try:
        return str(node.boot_script).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def first_child(pid: int) -> int | None:
    """The PID of `unshare`'s child, the node's PID 1 as the host sees it."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def pids_in_netns(inode: int) -> list[int]:
    """Host PIDs of every process living in the network namespace with this inode."""
    wanted = f"net:[{inode}]"
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "net") == wanted:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def serve_pids(inode: int) -> list[int]:
    """Host PIDs of the `vllm serve` processes (the stand-in, or any vllm) in the network namespace with this inode.

    Only the server itself: argv[0] (or the interpreter's script, argv[1]) is `vllm` and the next word `serve`, so
    a shell whose arguments merely mention `vllm serve` (a container's entry script) is not one of them."""
    found = []
    for pid in pids_in_netns(inode):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(Path(argv[i]).name == "vllm" and argv[i + 1:i + 2] == ["serve"] for i in range(min(2, len(argv)))):
            found.append(pid)
    return found


def _tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
