"""A node as strict as a real Spark: RDMA device files and sysfs, a non-root SSH user with narrow sudo."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from tests.sim.layout import FABRIC_IF, RDMA_DEVS, SPARK_UID, SPARK_USER, NodeLayout
from tests.sim.options import SimOptions

UVERBS_MAJOR = 231
# What `sudo -n` may run as the spark user: exactly the two page-cache drops sparkctl uses, nothing else.
SUDO_COMMANDS = (
    "/usr/bin/tee /proc/sys/vm/drop_caches",
    "/usr/bin/sh -c sync; echo 3 > /proc/sys/vm/drop_caches",
    "/bin/sh -c sync; echo 3 > /proc/sys/vm/drop_caches",
)
PORT_ACTIVE = "4: ACTIVE"
PORT_DOWN = "1: DOWN"


def write_rdma_tree(node: NodeLayout, state: str = PORT_ACTIVE) -> None:
    """The /sys/class/infiniband a ConnectX-7 shows: two RoCE devices on the fabric netdev."""
    for device in RDMA_DEVS:
        port = node.rdma_sys / device / "ports" / "1"
        (port / "gid_attrs" / "ndevs").mkdir(parents=True, exist_ok=True)
        (port / "gid_attrs" / "ndevs" / "0").write_text(FABRIC_IF + "\n")
        (port / "link_layer").write_text("Ethernet\n")
        (port / "rate").write_text("200 Gb/sec (4X HDR)\n")
        (node.rdma_sys / device / "node_type").write_text("1: CA\n")
    set_port_state(node, state)


def set_port_state(node: NodeLayout, state: str) -> None:
    """Every RDMA port of the node ACTIVE or DOWN (a cable pulled takes them down with the link)."""
    physical = "5: LinkUp" if state == PORT_ACTIVE else "3: Disabled"
    for device in RDMA_DEVS:
        port = node.rdma_sys / device / "ports" / "1"
        (port / "state").write_text(state + "\n")
        (port / "phys_state").write_text(physical + "\n")


def rdma_boot_lines(node: NodeLayout) -> list[str]:
    """Boot lines giving the node its own /dev (with /dev/infiniband) and /sys/class (with infiniband)."""
    q = shlex.quote
    dev, sysclass = q(str(node.stage / "dev")), q(str(node.stage / "sys-class"))
    devices = " ".join(f"mknod -m 666 /dev/infiniband/uverbs{i} c {UVERBS_MAJOR} {192 + i};" for i in range(len(RDMA_DEVS)))
    return [
        f"mkdir -p {dev} {sysclass}",
        # The host's /dev is shared by every node: copy it into a node-private tmpfs, keep its mounts.
        f"mount --rbind /dev {dev}",
        "mount -t tmpfs -o mode=755,nosuid devtmp /dev",
        f"for e in {dev}/* {dev}/.[!.]*; do [ -e \"$e\" ] || [ -L \"$e\" ] || continue; n=${{e##*/}};"
        " if [ \"$n\" = shm ]; then mkdir /dev/shm; elif mountpoint -q \"$e\"; then mkdir -p /dev/$n;"
        " mount --rbind \"$e\" /dev/$n; else cp -a \"$e\" /dev/; fi; done",
        f"umount -l {dev}",
        f"mkdir -p /dev/infiniband && {devices} mknod -m 666 /dev/infiniband/rdma_cm c 10 58",
        # /sys/class/infiniband cannot be created in sysfs: a tmpfs /sys/class re-binds every real class.
        f"mount --bind /sys/class {sysclass}",
        "mount -t tmpfs -o mode=755 sysclass /sys/class",
        f"for e in {sysclass}/*; do n=${{e##*/}}; mkdir /sys/class/$n; mount --bind \"$e\" /sys/class/$n; done",
        f"umount {sysclass}",
        f"mkdir -p /sys/class/infiniband && mount --bind {q(str(node.rdma_sys))} /sys/class/infiniband",
    ]


def write_user_files(node: NodeLayout, public_key: str, dotfile: str) -> None:
    """passwd, group, shadow, sudoers and hosts for the node, and the spark user's home."""
    node.etc.mkdir(parents=True, exist_ok=True)
    home = node.homes / SPARK_USER
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "authorized_keys").write_text(public_key + "\n")
    for name in (".bashrc", ".profile"):
        (home / name).write_text(dotfile)
    _chown_tree(home, SPARK_UID)
    (node.etc / "passwd").write_text(_without_uid(_read("/etc/passwd"), SPARK_UID)
                                     + f"{SPARK_USER}:x:{SPARK_UID}:{SPARK_UID}::/home/{SPARK_USER}:/bin/bash\n")
    (node.etc / "group").write_text(_group_file(_read("/etc/group")))
    # '*' (not '!'): no password, yet not locked, so sshd accepts the key.
    (node.etc / "shadow").write_text(_read("/etc/shadow") + f"{SPARK_USER}:*:19000:0:99999:7:::\n")
    (node.etc / "shadow").chmod(0o640)
    (node.etc / "sudoers").write_text(sudoers())
    (node.etc / "sudoers").chmod(0o440)
    (node.etc / "hosts").write_text(_read("/etc/hosts") + f"127.0.1.1\t{node.name}\n")


def sudoers() -> str:
    """root as usual; the spark user may run only the drop_caches commands, without a password."""
    commands = ", ".join(SUDO_COMMANDS)
    return ("Defaults env_reset\nDefaults !lecture\nroot ALL=(ALL:ALL) ALL\n"
            f"{SPARK_USER} ALL=(root) NOPASSWD: {commands}\n")


def user_boot_lines(node: NodeLayout) -> list[str]:
    """Bind the node's own account files over /etc and its homes over /home, before dockerd reads them."""
    q = shlex.quote
    lines = [f"mount --bind {q(str(node.etc / name))} /etc/{name}" for name in ("passwd", "group", "shadow", "sudoers", "hosts")]
    return [*lines, f"mount --bind {q(str(node.homes))} /home"]


def boot_lines(node: NodeLayout, options: SimOptions) -> list[str]:
    """Every strictness line for the node's boot script, in order."""
    lines = rdma_boot_lines(node) if options.rdma else []
    return lines + (user_boot_lines(node) if options.ssh_user != "root" else [])


def write_files(node: NodeLayout, options: SimOptions, public_key: str, dotfile: str) -> None:
    """The files the chosen strictness needs (kept across reboots)."""
    node.stage.mkdir(parents=True, exist_ok=True)
    if options.rdma and not node.rdma_sys.exists():
        write_rdma_tree(node)
    if options.ssh_user != "root":
        write_user_files(node, public_key, dotfile)


def _read(path: str) -> str:
    text = Path(path).read_text()
    return text if text.endswith("\n") else text + "\n"


def _without_uid(passwd: str, uid: int) -> str:
    """The host's passwd minus the account that already holds `uid` (the node's spark user takes it)."""
    return "".join(line + "\n" for line in passwd.splitlines() if line.split(":")[2:3] != [str(uid)] and line)


def _group_file(group: str) -> str:
    """The host's groups, spark added to docker, and spark's own group at uid 1000."""
    lines = []
    for line in group.splitlines():
        fields = line.split(":")
        if len(fields) == 4 and fields[2] == str(SPARK_UID):
            continue
        if len(fields) == 4 and fields[0] == "docker":
            fields[3] = ",".join(m for m in (fields[3], SPARK_USER) if m)
        lines.append(":".join(fields))
    return "\n".join(lines) + f"\n{SPARK_USER}:x:{SPARK_UID}:\n"


def _chown_tree(root: Path, uid: int) -> None:
    for path in (root, *root.rglob("*")):
        shutil.chown(path, uid, uid)
