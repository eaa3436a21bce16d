"""The node's scheduler: Debian's real cron daemon, as on a DGX OS node without systemd timers.

Simulated nodes run no systemd (`systemctl is-system-running` says `offline`), so sparkctl's node-side jobs
(page-cache guard, watchdog) go through cron there; each node has its own spool, kept across reboots.
"""

from __future__ import annotations

import grp
import os
import shlex

from tests.sim.layout import NodeLayout

SPOOL = "/var/spool/cron"


def write_files(node: NodeLayout) -> None:
    """The node's own spool, laid out as the cron package does (crontabs: root:crontab, mode 1730)."""
    crontabs = node.cron_spool / "crontabs"
    crontabs.mkdir(parents=True, exist_ok=True)
    os.chown(crontabs, 0, grp.getgrnam("crontab").gr_gid)
    crontabs.chmod(0o1730)


def boot_lines(node: NodeLayout) -> list[str]:
    """Mount the node's spool and start cron (it forks; the node's init adopts and reaps it)."""
    return [f"mount --bind {shlex.quote(str(node.cron_spool))} {SPOOL}", "/usr/sbin/cron"]
