"""Command line of the simulated Spark cluster: up, down, and faults on single nodes."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.sim import archimage, faults
from tests.sim.cluster import Cluster
from tests.sim.layout import Net
from tests.sim.options import USERS
from tests.sim.shell import SimError

FAULTS = ("fabric-down", "fabric-up", "mtu", "drop-route", "restore-route", "foreign-image", "heal")

DEFAULT_DIR = Path("/var/lib/sparkctl-sim/cluster")


def parser() -> argparse.ArgumentParser:
    """The argument parser for `python -m tests.sim`."""
    root = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a simulated cluster")
    up.add_argument("--nodes", type=int, default=2)
    up.add_argument("--no-docker", action="store_true", help="no container engine in the nodes")
    up.add_argument("--no-images", action="store_true", help="start engines but load no images")
    up.add_argument("--no-rdma", action="store_true", help="no /dev/infiniband or /sys/class/infiniband in the nodes")
    up.add_argument("--ssh-user", choices=USERS, default="root",
                    help="the inventory's SSH user; 'spark' is uid 1000 in the docker group, sudo only for drop_caches")
    up.add_argument("--port22-only", action="store_true", help="this host reaches the nodes on TCP 22 only")
    commands.add_parser("down", help="stop the cluster and remove everything it made")
    commands.add_parser("status", help="show each node and whether it runs")
    for name, text in (("kill", "crash a node"), ("boot", "start a killed node again"),
                       ("kill-serve", "crash only the node's vllm serve process (SIGKILL)")):
        commands.add_parser(name, help=text).add_argument("node", help="index (2) or name (spark2)")
    for name, text in (("cut", "make a node unreachable"), ("heal", "undo cut")):
        fault = commands.add_parser(name, help=text)
        fault.add_argument("node", help="index (2) or name (spark2)")
        fault.add_argument("--net", choices=Net.CHOICES, default=Net.BOTH)
    fault = commands.add_parser("fault", help="inject (or undo) a fault sparkctl doctor must catch")
    fault.add_argument("kind", choices=FAULTS)
    fault.add_argument("node", help="index (2) or name (spark2)")
    fault.add_argument("--peer", help="drop-route/restore-route: the node that becomes unreachable")
    fault.add_argument("--mtu", type=int, default=faults.JUMBO_MTU)
    for sub in commands.choices.values():
        sub.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"cluster directory (default {DEFAULT_DIR})")
    return root


def execute(args: argparse.Namespace) -> str:
    """Carry out one command; return what to print."""
    cluster = Cluster(args.dir)
    if args.command == "up":
        started = time.monotonic()
        cluster.up(args.nodes, docker=not args.no_docker, images=not args.no_images, rdma=not args.no_rdma,
                   ssh_user=args.ssh_user, port22_only=args.port22_only)
        took = time.monotonic() - started
        return f"ready: {args.nodes} nodes in {took:.1f}s; inventory {cluster.inventory_path}"
    if args.command == "down":
        return f"stopped the cluster in {cluster.dir}" if cluster.down() else f"nothing running in {cluster.dir}"
    if args.command == "status":
        return "\n".join(f"{n.name} {n.ip} {n.fabric_ip} {'up' if cluster.is_running(n) else 'down'}" for n in cluster.nodes)
    if args.command in ("cut", "heal"):
        getattr(cluster, args.command)(args.node, args.net)
        return f"{args.command}: {cluster.node(args.node).name} ({args.net})"
    if args.command == "fault":
        return inject(cluster, args)
    getattr(cluster, args.command.replace("-", "_"))(args.node)
    return f"{args.command}: {cluster.node(args.node).name}"


def inject(cluster: Cluster, args: argparse.Namespace) -> str:
    """Carry out `fault KIND NODE`."""
    node = cluster.node(args.node)
    if args.kind in ("drop-route", "restore-route"):
        if not args.peer:
            raise SimError(f"{args.kind} needs --peer NODE")
        peer = cluster.node(args.peer)
        (faults.drop_route if args.kind == "drop-route" else faults.restore_route)(node, peer)
        return f"{args.kind}: {node.name} -> {peer.name} ({peer.fabric_ip})"
    if args.kind == "mtu":
        faults.set_mtu(node, args.mtu)
    elif args.kind == "foreign-image":
        return f"foreign-image: {archimage.FOREIGN_TAG} ({archimage.load_foreign_image(node)}) on {node.name}"
    else:
        {"fabric-down": faults.fabric_down, "fabric-up": faults.fabric_up, "heal": faults.heal}[args.kind](node)
    return f"{args.kind}: {node.name}"


def main(argv: list[str] | None = None) -> int:
    """Entry point; expected failures are one line on stderr and exit status 1."""
    args = parser().parse_args(argv)
    try:
        print(execute(args), flush=True)
    except SimError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
