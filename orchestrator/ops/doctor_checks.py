"""The doctor's verdicts: pure functions from probe facts to problems, each naming the node (or pair) and the fix."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from enum import StrEnum

from orchestrator.config.inventory import Node

MIN_HF_FREE_KB = 64 * 1024 * 1024  # gpt-oss-120b alone is ~65 GB
MAX_PAGE_CACHE_KB = 16 * 1024 * 1024
MAX_CLOCK_SKEW = 2.0
DOCKER_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "amd64": "amd64"}


class Severity(StrEnum):
    """An error fails the doctor (exit 1); a warning is shown only."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding: where (a node or 'a <-> b'), which check, what is wrong and how to fix it."""

    where: str
    check: str
    message: str
    fix: str
    severity: Severity = Severity.ERROR

    def as_dict(self) -> dict[str, str]:
        """JSON-ready."""
        return {k: str(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RdmaDevice:
    """One RDMA device as /sys/class/infiniband shows it."""

    name: str
    state: str
    netdev: str


def parse_rdma(text: str) -> list[RdmaDevice]:
    """`dev:STATE:netdev,...` from the probe into devices."""
    devices = []
    for item in filter(None, (text or "").split(",")):
        name, state, netdev = (item.split(":") + ["", ""])[:3]
        devices.append(RdmaDevice(name, state, netdev))
    return devices


def check_fabric(node: Node, facts: dict[str, str]) -> list[Problem]:
    """The fabric interface exists, is up and carries the inventory's fabric_ip."""
    name, fif = node.name, node.fabric_if
    present = facts.get("fabric_present")
    if present == "unset" or not fif:
        return [Problem(name, "fabric", "the inventory names no fabric_if: Ray, NCCL and Gloo will use the "
                        "management link (10-20x slower, or a hang)",
                        "add fabric_if and fabric_ip for this node (sparkctl init IP... writes them)", Severity.WARNING)]
    if present == "no":
        return [Problem(name, "fabric", f"fabric interface {fif} does not exist on {name}",
                        f"correct fabric_if in the inventory ('ip -br link' on {name} lists the interfaces) "
                        "or check the ConnectX-7 driver (mlx5_core)")]
    problems = []
    if facts.get("fabric_state", "").lower() != "up":
        problems.append(Problem(name, "fabric", f"fabric interface {fif} on {name} is {facts.get('fabric_state', '?')}",
                                f"check the QSFP cable of {name}, then 'sudo ip link set {fif} up' on {name}"))
    addrs = [a.split("/")[0] for a in filter(None, facts.get("fabric_addrs", "").split(","))]
    if node.fabric_ip and node.fabric_ip not in addrs:
        problems.append(Problem(name, "fabric", f"{fif} on {name} has {', '.join(addrs) or 'no IPv4 address'}, "
                                f"not the inventory's fabric_ip {node.fabric_ip}",
                                f"give {fif} the address {node.fabric_ip} (netplan) or correct fabric_ip in the inventory"))
    return problems


def check_mtus(nodes: list[Node], facts: dict[str, dict[str, str]]) -> list[Problem]:
    """Every fabric interface has the same MTU; the odd ones out are named."""
    mtus = {n.name: facts[n.name].get("fabric_mtu") for n in nodes if facts.get(n.name, {}).get("fabric_mtu")}
    if len(set(mtus.values())) <= 1:
        return []
    counts = Counter(mtus.values()).most_common()
    majority = counts[0][0] if counts[0][1] > counts[1][1] else None
    listed = ", ".join(f"{name}={mtu}" for name, mtu in mtus.items())
    target = majority or max(mtus.values(), key=int)
    # Without a majority nobody knows which node is wrong: name them all, fix towards the larger MTU.
    where = [name for name, mtu in mtus.items() if mtu != majority] if majority else list(mtus)
    fif = {n.name: n.fabric_if for n in nodes}
    commands = "; ".join(f"on {name}: sudo ip link set {fif[name]} mtu {target}" for name, mtu in mtus.items()
                         if mtu != target)
    return [Problem(", ".join(where), "mtu", f"fabric MTU differs between nodes ({listed}): large frames are dropped "
                    "and NCCL stalls", f"use one MTU on every node's fabric interface ({commands}; make it "
                    "permanent in netplan)")]


def check_rdma(node: Node, facts: dict[str, str]) -> list[Problem]:
    """RoCE devices exist, their ports are ACTIVE, and the inventory's rdma_dev names real ones."""
    name, devices = node.name, parse_rdma(facts.get("rdma", ""))
    wanted = [d for d in (node.rdma_dev or "").split(",") if d]
    if not devices:
        severity = Severity.ERROR if wanted else Severity.WARNING
        return [Problem(name, "rdma", f"no RDMA devices on {name} (/sys/class/infiniband is empty): NCCL falls back "
                        "to TCP sockets", f"load the ConnectX-7 RDMA driver on {name} (modprobe mlx5_ib; "
                        "'ibv_devices' should list rocep1s0f1)" + ("" if wanted else ", or ignore for TCP-only use"),
                        severity)]
    problems = [Problem(name, "rdma", f"RDMA device {d.name} on {name}: port 1 is {d.state or 'unknown'}, not ACTIVE",
                        f"bring the fabric link of {name} up (cable, 'ip link set {d.netdev or node.fabric_if} up'); "
                        f"'ibv_devinfo -d {d.name}' shows the port state")
                for d in devices if d.state != "ACTIVE"]
    known = {d.name for d in devices}
    problems += [Problem(name, "rdma", f"the inventory's rdma_dev {w} does not exist on {name} "
                         f"(it has {', '.join(sorted(known))})", f"set rdma_dev to one of: {', '.join(sorted(known))}")
                 for w in wanted if w not in known]
    if facts.get("uverbs", "0") in ("", "0"):
        problems.append(Problem(name, "rdma", f"no /dev/infiniband/uverbs* on {name}: containers cannot open RDMA",
                                f"load ib_uverbs on {name} (modprobe ib_uverbs)"))
    if not wanted:
        active = ",".join(d.name for d in devices if d.state == "ACTIVE")
        problems.append(Problem(name, "rdma", f"the inventory sets no rdma_dev for {name}: NCCL_IB_HCA stays unset",
                                f"add rdma_dev: {active or devices[0].name} for {name}", Severity.WARNING))
    return problems


def check_docker(node: Node, facts: dict[str, str]) -> list[Problem]:
    """docker answers this SSH user, the NVIDIA runtime is there, and the page cache can be dropped."""
    name, user = node.name, facts.get("user", "?")
    state = facts.get("docker")
    if state == "missing":
        return [Problem(name, "docker", f"docker is not installed on {name}", f"install docker on {name} (DGX OS ships it)")]
    if state == "unreachable":
        return [Problem(name, "docker", f"user {user} cannot talk to dockerd on {name}: {facts.get('docker_error', '')}",
                        f"start dockerd on {name}, or 'sudo usermod -aG docker {user}' there and log in again")]
    problems = []
    if facts.get("nvidia") == "missing":
        problems.append(Problem(name, "nvidia", f"no NVIDIA container runtime on {name}: 'docker run --gpus all' fails",
                                f"install nvidia-container-toolkit on {name}, then 'sudo nvidia-ctk runtime configure "
                                "--runtime=docker' and restart docker"))
    if facts.get("drop_caches") == "denied":
        problems.append(Problem(name, "drop-caches", f"user {user} on {name} cannot drop the page cache (sudo -n refused)",
                                f"add a sudoers rule on {name}: '{user} ALL=(root) NOPASSWD: /usr/bin/tee "
                                "/proc/sys/vm/drop_caches'", Severity.WARNING))
    return problems


def image_archs(images: list[str], facts: dict[str, str]) -> dict[str, str]:
    """Image name -> its architecture on the node, or 'missing'."""
    return {image: facts.get(f"image.{i}", "unknown") for i, image in enumerate(images)}


def check_images(node: Node, facts: dict[str, str], images: list[str], required: list[str]) -> list[Problem]:
    """Each image present has the node's architecture; required images are present."""
    if facts.get("docker") != "ok":
        return []
    name, machine = node.name, facts.get("arch", "?")
    arch = DOCKER_ARCH.get(machine, machine)
    problems = []
    for image, found in image_archs(images, facts).items():
        if found == "missing" and image in required:
            problems.append(Problem(name, "image", f"image {image} is not on {name}",
                                    "ship it: 'sparkctl images sync RECIPE' (or docker save | ssh NODE docker load)"))
        elif found not in ("missing", "unknown") and found != arch:
            problems.append(Problem(name, "image", f"image {image} on {name} is built for {found}, but {name} is "
                                    f"{arch} ({machine}): it cannot run there",
                                    f"build or pull the linux/{arch} variant of {image} and ship it to {name}"))
    return problems


def check_host(node: Node, facts: dict[str, str], window: tuple[float, float]) -> list[Problem]:
    """HF cache disk, page cache size and clock skew against the workstation (sent..received window)."""
    name, problems = node.name, []
    free = _int(facts.get("hf_free_kb"))
    if free is not None and free < MIN_HF_FREE_KB:
        problems.append(Problem(name, "disk", f"only {free / 1048576:.0f} GiB free for the Hugging Face cache "
                                f"({facts.get('hf_dir', '?')}) on {name}", f"free space on {name} (old models: "
                                "'hf cache scan'/'hf cache delete') or point HF_HOME at a larger disk", Severity.WARNING))
    cache = _int(facts.get("page_cache_kb"))
    if cache is not None and cache > MAX_PAGE_CACHE_KB:
        problems.append(Problem(name, "memory", f"{cache / 1048576:.0f} GiB of page cache on {name} competes with "
                                "the GPU for unified memory", f"sparkctl drop-caches --nodes {name}", Severity.WARNING))
    skew = clock_skew(facts, window)
    if skew is not None and abs(skew) > MAX_CLOCK_SKEW:
        problems.append(Problem(name, "clock", f"{name}'s clock is {skew:+.1f}s off this workstation's",
                                f"enable time sync on {name} ('sudo timedatectl set-ntp true', or chrony)",
                                Severity.WARNING))
    return problems


def clock_skew(facts: dict[str, str], window: tuple[float, float]) -> float | None:
    """How far the node's clock lies outside [sent, received] of the workstation; 0 inside it."""
    clock = _float(facts.get("clock"))
    if clock is None:
        return None
    sent, received = window
    return clock - received if clock > received else min(0.0, clock - sent)


def check_pairs(matrix: dict[str, dict[str, bool | None]], addresses: dict[str, str]) -> list[Problem]:
    """One problem per pair of nodes that cannot reach each other's fabric address (either way)."""
    problems, seen = [], set()
    for src, row in matrix.items():
        for dst, ok in row.items():
            pair = tuple(sorted((src, dst)))
            if ok is not False or pair in seen:
                continue
            seen.add(pair)
            back = matrix.get(dst, {}).get(src)
            both = " (nor the other way)" if back is False else ""
            problems.append(Problem(f"{src} <-> {dst}", "reach", f"{src} cannot reach {dst}'s fabric address "
                                    f"{addresses.get(dst, '?')}{both}", f"check the cable between {src} and {dst}; on "
                                    f"{src}, 'ip route get {addresses.get(dst, '?')}' must leave by the fabric "
                                    "interface (no blackhole route or firewall rule)"))
    return problems


def node_problems(node: Node, facts: dict[str, str], images: list[str], required: list[str],
                  window: tuple[float, float]) -> list[Problem]:
    """Every per-node verdict for one node."""
    return (check_fabric(node, facts) + check_rdma(node, facts) + check_docker(node, facts)
            + check_images(node, facts, images, required) + check_host(node, facts, window))


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
