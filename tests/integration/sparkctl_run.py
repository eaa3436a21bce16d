"""Runs the real sparkctl command line against a simulated cluster, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SPARKCTL = str(Path(sys.executable).parent / "sparkctl")


@dataclass
class Sparkctl:
    """`sparkctl` bound to one simulated cluster's inventory."""

    cluster: object

    def env(self) -> dict[str, str]:
        """The environment sparkctl runs in: the cluster's inventory, no HF_TOKEN leakage from the host."""
        env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
        env["SPARKCTL_INVENTORY"] = str(self.cluster.inventory_path)
        return env

    def run(self, *args: str, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess:
        """Run sparkctl to completion."""
        result = subprocess.run([SPARKCTL, *args], capture_output=True, text=True, timeout=timeout, env=self.env())
        if check and result.returncode != 0:
            raise AssertionError(f"sparkctl {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self, *args: str) -> subprocess.Popen:
        """Start sparkctl in the background (stopped by the caller by PID)."""
        return subprocess.Popen([SPARKCTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env())

    def containers(self, node: int) -> list[str]:
        """Names of sparkctl containers on a node, asked of its engine directly."""
        result = self.cluster.docker(node, ["ps", "-a", "--filter", "label=sparkctl.deployment", "--format",
                                            "{{.Names}} {{.State}}"], check=True)
        return [line for line in result.stdout.splitlines() if line.strip()]

    def no_containers_anywhere(self) -> bool:
        """No sparkctl container on any node."""
        return all(not self.containers(node.index) for node in self.cluster.nodes)


def wait_for(predicate, timeout: float, interval: float = 0.5) -> bool:
    """Poll predicate until true or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def stop(process: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    """Wait for a background sparkctl (killing it by PID if it hangs) and return its output."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate(timeout=10)


def accepted_connections(cluster) -> dict[str, int]:
    """Per node, how many SSH logins its sshd has accepted so far."""
    return {n.name: n.sshd_log.read_text(errors="replace").count("Accepted publickey") for n in cluster.nodes}
