"""The simulated Spark cluster: one object behind both the CLI and the pytest fixture."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.sim import engine, files, firewall, imagestore, network, nodes, teardown
from tests.sim.images import CACHE_DIR, image_tarballs
from tests.sim.layout import MAX_NODES, MGMT_BRIDGE, ClusterLayout, Net, NodeLayout
from tests.sim.options import SimOptions
from tests.sim.shell import SimError
from tests.sim.state import State, locked, owner_gone, process_identity

NodeRef = int | str | NodeLayout
REQUIRED_TOOLS = ("ip", "unshare", "nsenter", "ssh", "ssh-keygen", "/usr/sbin/sshd", "/usr/bin/docker-init",
                  "/usr/sbin/cron", "crontab")
NODE_PRIVATE_DIRS = tuple(Path(p) for p in ("/tmp", "/run", "/var/run", "/dev/shm", "/root", "/proc", "/sys"))
DOCKER_TOOLS = ("/usr/sbin/dockerd", "/usr/bin/docker", "containerd", "runc")


def _say(message: str) -> None:
    print(f"sim: {message}", file=sys.stderr, flush=True)


class Cluster:
    """A simulated cluster whose files live in `root`; its state comes from `root/state.json`."""

    def __init__(self, root: Path | str) -> None:
        self.layout = ClusterLayout(Path(root).resolve())

    # ---- what tests and tools read -------------------------------------------------------------
    @property
    def dir(self) -> Path:
        return self.layout.root

    @property
    def inventory_path(self) -> Path:
        return self.layout.inventory

    @property
    def ssh_config(self) -> Path:
        return self.layout.ssh_config

    @property
    def state(self) -> State:
        state = State.load(self.layout)
        if state is None:
            raise SimError(f"no simulated cluster in {self.dir} (no state.json): run `python -m tests.sim up` first")
        return state

    @property
    def nodes(self) -> list[NodeLayout]:
        return self.layout.nodes(self.state.nodes)

    def node(self, ref: NodeRef) -> NodeLayout:
        """Resolve a node given as its 1-based index, its name (spark2) or its layout."""
        count = self.state.nodes
        index = ref.index if isinstance(ref, NodeLayout) else _parse_index(ref)
        if not 1 <= index <= count:
            raise SimError(f"no node {ref!r}: the cluster in {self.dir} has nodes 1..{count} (spark1..spark{count})")
        return self.layout.node(index)

    def is_running(self, ref: NodeRef) -> bool:
        node = self.node(ref)
        return nodes.runs_node(self.state.pids.get(node.index), node)

    # ---- lifecycle -----------------------------------------------------------------------------
    @property
    def options(self) -> SimOptions:
        """The strictness `up` chose (RDMA devices, SSH user, port-22-only)."""
        return SimOptions.load(self.layout)

    def up(self, count: int, docker: bool = True, images: bool = True, owner_pid: int | None = None,
           rdma: bool = True, ssh_user: str = "root", port22_only: bool = False,
           extra_images: Sequence[str] = ()) -> Cluster:
        """Create bridges, nodes, sshd and engines; return once every node answers.

        With `owner_pid`, the cluster belongs to that process: once it has exited, a later `up`
        reclaims the cluster instead of refusing (a pytest session killed before its finalizer).
        `rdma`, `ssh_user` and `port22_only` make the nodes as strict as real Sparks (see SimOptions).
        `extra_images` names opt-in images (tests/sim/images.py EXTRA_IMAGES, e.g. `vllm-openai-stock`)
        loaded into every node's engine besides the default ones.
        """
        options = SimOptions(rdma=rdma, ssh_user=ssh_user, port22_only=port22_only).check()
        _check_can_start(count, docker)
        _check_dir_visible(self.dir)
        with locked():
            self._refuse_or_clean_previous()
            try:
                self._create(count, docker, images, owner_pid, options, tuple(extra_images))
            except BaseException:
                _say("start-up failed; tearing down what was made")
                self._teardown()
                raise
        return self

    def down(self) -> bool:
        """Tear everything down; return False when there was nothing to stop."""
        with locked():
            state = State.load(self.layout)
            owned = network.bridge_owner() == str(self.dir)
            if state is None and not owned:
                return False
            self._teardown()
            return True

    def kill(self, ref: NodeRef) -> None:
        """Crash a node: SIGKILL its `unshare`, so every process of the node dies; files stay."""
        with locked():
            node, state = self.node(ref), self.state
            if not nodes.runs_node(state.pids.get(node.index), node):
                raise SimError(f"{node.name} is not running")
            teardown_node(node, state.pids[node.index])
            state.pids[node.index] = None
            state.save(self.layout)

    def boot(self, ref: NodeRef) -> None:
        """Start a killed node again with its files (and its engine's images) kept."""
        with locked():
            node, state = self.node(ref), self.state
            if nodes.runs_node(state.pids.get(node.index), node):
                raise SimError(f"{node.name} is already running")
            state.pids[node.index] = nodes.start(node, self.layout, state.docker, self.options)
            state.save(self.layout)
            nodes.wait_ready(node, state.pids[node.index], state.docker)

    def kill_serve(self, ref: NodeRef) -> int:
        """Crash the server only: SIGKILL every `vllm serve` process on a node (the node and its docker live on).

        Returns how many were killed; none running is an error (the test meant to kill one)."""
        node = self.node(ref)
        victims = nodes.serve_pids(network.netns_inode(node.netns) or 0)
        if not victims:
            raise SimError(f"no vllm serve process runs on {node.name}")
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(victims)

    def cut(self, ref: NodeRef, net: str = Net.BOTH) -> None:
        """Make a node unreachable on a network: its host-side veth goes down."""
        network.set_links(self.node(ref), _veths(self.node(ref), net), up=False)

    def heal(self, ref: NodeRef, net: str = Net.BOTH) -> None:
        """Undo `cut`."""
        network.set_links(self.node(ref), _veths(self.node(ref), net), up=True)

    # ---- helpers for tests ---------------------------------------------------------------------
    def ssh(self, ref: NodeRef, command: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
        """Run `command` on a node over real SSH with the cluster's ssh_config."""
        argv = ["ssh", "-F", str(self.layout.ssh_config), self.node(ref).name, command]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check)

    def docker(self, ref: NodeRef, args: Sequence[str], timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess:
        """Run `docker args...` against a node's own engine (from the host, without SSH)."""
        argv = engine.docker_argv(self.node(ref), *args)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check)

    # ---- internals -----------------------------------------------------------------------------
    def _refuse_or_clean_previous(self) -> None:
        previous = State.load(self.layout)
        if previous and _live_pids(self.layout, previous) and not owner_gone(previous):
            raise SimError(
                f"a simulated cluster is already running in {self.dir}; stop it first: python -m tests.sim down --dir {self.dir}"
            )
        owner = network.bridge_owner()
        if owner and owner != str(self.dir) and _cluster_alive(Path(owner)):
            raise SimError(
                f"another simulated cluster is running from {owner} (the subnets are fixed, one at a "
                f"time); stop it first: python -m tests.sim down --dir {owner}"
            )
        left = teardown.leftovers(self.dir)
        if previous or left:
            _say(f"cleaning up leftovers of an earlier run: {', '.join(left) or 'its state file'}")
            self._teardown()

    def _create(self, count: int, docker: bool, images: bool, owner_pid: int | None, options: SimOptions,
                extra_images: tuple[str, ...] = ()) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        options.save(self.layout)
        node_layouts = self.layout.nodes(count)
        self._write_files(node_layouts, docker, options)
        state = State(nodes=count, docker=docker, owner=process_identity(owner_pid) if owner_pid else None)
        if docker and images:
            state.images = self._install_images(node_layouts, extra_images)
        network.create_bridges(self.dir)
        if options.port22_only:
            firewall.install()
        for node in node_layouts:
            network.create_node_netns(node)
            state.pids[node.index] = nodes.start(node, self.layout, docker, options)
            state.save(self.layout)
        _parallel(lambda n: nodes.wait_ready(n, state.pids[n.index], docker), node_layouts)

    def _write_files(self, node_layouts: list[NodeLayout], docker: bool, options: SimOptions) -> None:
        files.generate_key(self.layout.client_key, "sparkctl-sim")
        files.write_fake_nvidia_hook(self.layout.bin_dir)
        engine.write_daemon_config(self.layout)
        for node in node_layouts:
            files.write_node_files(node, self.layout.client_key, options, self.layout.bin_dir)
            _check_socket_path(node, docker)
        files.write_client_files(self.layout, node_layouts, options)

    def _install_images(self, node_layouts: list[NodeLayout], extra_images: tuple[str, ...] = ()) -> list[str]:
        """Give every node's engine the images, cloned from a cached pre-loaded data-root."""
        try:
            tarballs = image_tarballs(extra_images=extra_images)
        except SimError:
            raise
        except Exception as error:  # the image builder's own failures, made one clear message
            raise SimError(f"could not build the project image (tests/sim/image.py): {error}") from error
        store = imagestore.store_for(tarballs, CACHE_DIR)
        _parallel(lambda n: imagestore.clone(store, n.docker_data), node_layouts)
        return [str(t) for t in tarballs]

    def _teardown(self) -> None:
        state = State.load(self.layout)
        owner = network.bridge_owner()
        # Another live cluster owns the shared bridges: remove only what is ours.
        owns_network = owner in (None, str(self.dir)) or not _cluster_alive(Path(owner))
        if owns_network:
            firewall.remove()
        teardown.teardown(self.dir, _live_pids(self.layout, state) if state else [], owns_network)
        left = teardown.leftovers(self.dir if owns_network else None)
        if left and owns_network:
            raise SimError(f"teardown left these behind: {', '.join(left)}")


def teardown_node(node: NodeLayout, pid: int | None) -> None:
    """Kill one node's process tree and wait until nothing lives in its netns any more."""
    teardown.kill_netns_processes([pid], [node.netns])


def _veths(node: NodeLayout, net: str) -> list[str]:
    if net not in Net.CHOICES:
        raise SimError(f"unknown network {net!r}: choose one of {', '.join(Net.CHOICES)}")
    return {Net.MGMT: [node.mgmt_veth], Net.FABRIC: [node.fabric_veth]}.get(net, [node.mgmt_veth, node.fabric_veth])


def _parse_index(ref: int | str) -> int:
    text = str(ref).removeprefix("spark")
    if not text.isdigit():
        raise SimError(f"not a node: {ref!r} (give an index such as 2 or a name such as spark2)")
    return int(text)


def _cluster_alive(root: Path) -> bool:
    state = State.load(ClusterLayout(root))
    return bool(state) and bool(_live_pids(ClusterLayout(root), state)) and not owner_gone(state)


def _live_pids(layout: ClusterLayout, state: State) -> list[int]:
    """The recorded PIDs that still run their node (a reused PID is not ours to kill)."""
    return [pid for i, pid in state.pids.items() if pid and nodes.runs_node(pid, layout.node(i))]


def _check_can_start(count: int, docker: bool) -> None:
    if os.geteuid() != 0:
        raise SimError("the simulated Spark cluster needs root (network namespaces, sshd, dockerd); run as root")
    if not 1 <= count <= MAX_NODES:
        raise SimError(f"--nodes must be between 1 and {MAX_NODES}, not {count}")
    missing = [t for t in REQUIRED_TOOLS + (DOCKER_TOOLS if docker else ()) if not shutil.which(t)]
    if missing:
        raise SimError(f"missing tools: {', '.join(missing)} (run: bash tests/sim/system-deps.sh)")
    if network.link_exists(MGMT_BRIDGE) and not network.bridge_owner():
        raise SimError(f"a host interface named {MGMT_BRIDGE} exists and is not the harness's; remove it first")


def _check_dir_visible(root: Path) -> None:
    """Nodes mount their own /tmp, /run, /dev/shm and /root: a cluster directory there would vanish."""
    for hidden in NODE_PRIVATE_DIRS:
        if root == hidden or hidden in root.parents:
            raise SimError(
                f"the cluster directory {root} is under {hidden}, which every node replaces with its own; "
                "choose another --dir (default: /var/lib/sparkctl-sim/cluster)"
            )


def _check_socket_path(node: NodeLayout, docker: bool) -> None:
    if docker and len(str(node.docker_socket)) > 100:
        raise SimError(f"cluster directory path too long for a unix socket: {node.docker_socket}; use a shorter --dir")


def _parallel(action, items: list) -> None:
    with ThreadPoolExecutor(max_workers=max(1, min(len(items), 16))) as pool:
        list(pool.map(action, items))
