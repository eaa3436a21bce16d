"""SSH host key checking: first contact is recorded, a changed key is refused."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import paramiko

_WRITE_LOCK = threading.Lock()


class RecordFirstContact(paramiko.MissingHostKeyPolicy):
    """Accept a host never seen before and append its key to known_hosts (like StrictHostKeyChecking=accept-new)."""

    def __init__(self, known_hosts: Path, notify):
        self.known_hosts = known_hosts
        self.notify = notify

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        """Record the key, then let the connection proceed."""
        with _WRITE_LOCK:
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with self.known_hosts.open("a", encoding="utf-8") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.notify(f"recorded the host key of {hostname} ({key.get_name()}) in {self.known_hosts}")


def known_hosts_file(configured: str | None, ssh_config_value: str | list | None) -> Path:
    """The known_hosts to use: the inventory's, else ssh_config's UserKnownHostsFile, else ~/.ssh/known_hosts."""
    if configured:
        return Path(configured)
    if ssh_config_value:
        first = ssh_config_value[0] if isinstance(ssh_config_value, list) else ssh_config_value.split()[0]
        return Path(os.path.expanduser(first))
    return Path(os.path.expanduser("~/.ssh/known_hosts"))


def changed_key_message(host: str, known_hosts: Path) -> str:
    """What to tell the operator when a node presents a different host key."""
    return (f"the SSH host key of {host} does not match {known_hosts}: this may be an attack, or the node was "
            f"reinstalled. If you know why, remove the old key with: ssh-keygen -R {host} -f {known_hosts}")
