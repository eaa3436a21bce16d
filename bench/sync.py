"""`sparkctl models sync` against a plain TCP file copy and rsync, one run, same link, same bytes.

Run as root inside private namespaces (the sim's subnets are fixed):
  SPARKCTL_SIM_DIR=/var/lib/sparkctl-sim/sync unshare --net --mount --propagation private \\
      tests/sim/isolated.sh .venv/bin/python bench/sync.py [--mb 2048] [--shards 8]
Writes random safetensors shards in the HF cache layout on node 1, then copies them to node 2 over the
simulated fabric link three ways: a plain file-to-file TCP copy (sendfile out, read/write in, no checks) over
one stream and over as many as sparkctl's --streams, `rsync -a` over ssh, and `sparkctl models sync` (several
streams, sha256 of every blob on arrival). Checks every copy and prints the rates and ratios. Target:
sparkctl's copy phase >= 0.9x the faster plain TCP copy, medians of --repeat interleaved runs (best runs are
printed too).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sim import Cluster  # noqa: E402
from tests.sim.hfmodel import generate  # noqa: E402

SPARKCTL = ROOT / ".venv" / "bin" / "sparkctl"
MODEL = "bench/model"
REPO = "models--bench--model"
HUB = "/root/.cache/huggingface/hub"
PORT = 5301
TARGET_RATIO = 0.9

# The plain copy: the files of a tree shared by N connections (each takes the next file), length-prefixed,
# sendfile out, recv_into/write in, one thread per connection on each end, no checks.
TCP_SEND = r"""
import os, queue, socket, struct, sys, threading, time
root, ip, port, streams = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
files = queue.SimpleQueue()
for folder, _dirs, names in os.walk(os.path.join(root, "blobs")):
    for name in names:
        files.put(os.path.join(folder, name))
def connect():
    for _ in range(100):
        try:
            return socket.create_connection((ip, port))
        except OSError:
            time.sleep(0.05)
    raise SystemExit("no receiver")
def send(conn):
    while True:
        try:
            path = files.get_nowait()
        except queue.Empty:
            break
        size = os.path.getsize(path)
        conn.sendall(struct.pack(">HQ", len(os.path.basename(path)), size) + os.path.basename(path).encode())
        with open(path, "rb") as source:
            conn.sendfile(source)
    conn.sendall(struct.pack(">HQ", 0, 0))
    conn.recv(1)
threads = [threading.Thread(target=send, args=(connect(),)) for _ in range(streams)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""
TCP_RECEIVE = r"""
import os, socket, struct, sys, threading
ip, port, into, streams = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
os.makedirs(into, exist_ok=True)
server = socket.create_server((ip, port))
def exact(conn, size):
    data = b""
    while len(data) < size:
        data += conn.recv(size - len(data))
    return data
def receive(conn):
    buffer = memoryview(bytearray(4 << 20))
    while True:
        length, size = struct.unpack(">HQ", exact(conn, 10))
        if not length:
            break
        with open(os.path.join(into, exact(conn, length).decode()), "wb", buffering=0) as out:
            while size:
                count = conn.recv_into(buffer[:min(size, len(buffer))])
                out.write(buffer[:count])
                size -= count
    conn.sendall(b"k")
threads = [threading.Thread(target=receive, args=(server.accept()[0],)) for _ in range(streams)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run argv to success; its wall time, the machine's busy CPU seconds meanwhile, and its output."""
    busy, started = busy_cpu_seconds(), time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    seconds, cpu = time.monotonic() - started, busy_cpu_seconds() - busy
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}... failed:\n{result.stdout}\n{result.stderr}")
    return seconds, cpu, result.stdout + result.stderr


def busy_cpu_seconds() -> float:
    """CPU seconds every core of this machine spent busy so far (/proc/stat: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def sha256_seconds(size: int) -> float:
    """CPU seconds OpenSSL's sha256 (as the copier uses it) takes for size bytes on one core of this machine."""
    chunk, digest = os.urandom(8 << 20), hashlib.sha256()
    started = time.process_time()
    for _ in range(max(1, size // len(chunk))):
        digest.update(chunk)
    return (time.process_time() - started) * size / (max(1, size // len(chunk)) * len(chunk))


def ssh(cluster: Cluster, node, command: str) -> list[str]:
    return ["ssh", "-F", str(cluster.ssh_config), node.name, command]


def tcp_copy(cluster: Cluster, streams: int) -> tuple[float, float]:
    """The plain copy from node 1 to node 2's fabric IP over as many streams as sparkctl uses."""
    one, two = cluster.nodes[0], cluster.nodes[1]
    receiver = subprocess.Popen(ssh(cluster, two, f"python3 -c '{TCP_RECEIVE}' {two.fabric_ip} {PORT} /root/tcp-copy {streams}"))
    try:
        seconds, cpu, _ = timed(ssh(cluster, one, f"python3 -c '{TCP_SEND}' {HUB}/{REPO} {two.fabric_ip} {PORT} {streams}"))
        receiver.wait(60)
    finally:
        receiver.kill()
    return seconds, cpu


def rsync_copy(cluster: Cluster) -> tuple[float, float]:
    """rsync -a over ssh from node 1 to node 2's fabric IP."""
    ssh_opts = (f"ssh -i {cluster.layout.client_key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                "-o LogLevel=ERROR")
    command = f"rsync -a --mkpath -e '{ssh_opts}' {HUB}/{REPO}/ root@{cluster.nodes[1].fabric_ip}:/root/rsync-copy/{REPO}/"
    return timed(ssh(cluster, cluster.nodes[0], command))[:2]


def check(cluster: Cluster, listing: str, where: str) -> None:
    """Node 2's copy holds node 1's blobs, byte for byte (by sha256)."""
    want = cluster.ssh(1, f"cd {HUB}/{REPO}/blobs && sha256sum * | sort", check=True).stdout
    got = cluster.ssh(2, f"cd {where} && sha256sum * | sort", check=True).stdout
    if got != want:
        raise SystemExit(f"spark2: the {listing} copy differs from node 1's blobs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=2048, help="model size in MiB (default 2048)")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cluster = Cluster(os.environ.get("SPARKCTL_SIM_DIR", "/var/lib/sparkctl-sim/sync"))
    cluster.up(2, docker=False)
    try:
        return measure(cluster, args)
    finally:
        cluster.down()


def measure(cluster: Cluster, args) -> int:
    size = generate(cluster.nodes[0].home, MODEL, args.mb, args.shards)
    recipes = Path(tempfile.mkdtemp())
    (recipes / "bench-sync.yaml").write_text(f"extends: gpt-oss-20b\nmodel: {MODEL}\n")
    env = {**os.environ, "SPARKCTL_INVENTORY": str(cluster.inventory_path)}
    sync = [str(SPARKCTL), "--recipes-dir", str(recipes), "models", "sync", "bench-sync", "--streams", str(args.streams)]
    times: dict[str, list[float]] = {"tcp-1": [], "tcp-n": [], "rsync": [], "copy": [], "whole": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    for _ in range(args.repeat):
        for name, streams in (("tcp-1", 1), ("tcp-n", args.streams)):
            settle(cluster)
            record(times, cpu, name, tcp_copy(cluster, streams))
            check(cluster, "TCP", "/root/tcp-copy")
        settle(cluster)
        record(times, cpu, "rsync", rsync_copy(cluster))
        check(cluster, "rsync", f"/root/rsync-copy/{REPO}/blobs")
        settle(cluster)
        whole, whole_cpu, said = timed(sync, env)
        check(cluster, "sparkctl", f"{HUB}/{REPO}/blobs")
        record(times, cpu, "whole", (whole, whole_cpu))
        times["copy"].append(float(re.search(r"from spark1: \S+ \S+ at \S+ \S+ \(([\d.]+)s\)", said).group(1)))
    median = {name: statistics.median(values) for name, values in times.items()}
    baseline = min(("tcp-1", "tcp-n"), key=median.get)  # the plain copy at its faster stream count
    report(size, args, median, times, baseline)
    report_cpu(size, median, {name: statistics.median(values) for name, values in cpu.items() if values}, baseline)
    return 0 if median[baseline] / median["copy"] >= TARGET_RATIO else 1


def report_cpu(size: int, median: dict[str, float], cpu: dict[str, float], baseline: str) -> None:
    """Busy CPU seconds of each way (both ends, kernel included) and what sha256 alone costs: the CPU bound."""
    cores = os.cpu_count() or 1
    print(f"busy CPU seconds on this machine's {cores} cores (both ends and the kernel), medians:")
    for name, seconds in cpu.items():
        print(f"  {name:6s} {seconds:5.2f} s CPU over {median[name]:5.2f} s: {seconds / median[name]:.2f} cores busy")
    hashing = sha256_seconds(size)
    floor = (cpu[baseline] + hashing) / cores
    print(f"sha256 of the same bytes: {hashing:.2f} s CPU on one core; a copy that hashes on arrival needs at least "
          f"the plain copy's CPU plus that, {floor:.2f} s on {cores} cores if nothing else ran: at most "
          f"{median[baseline] / max(floor, median[baseline]):.2f}x the plain copy here")


def record(times: dict[str, list[float]], cpu: dict[str, list[float]], name: str, run: tuple[float, float]) -> None:
    """One run's wall and CPU seconds, under its way's name."""
    times[name].append(run[0])
    cpu[name].append(run[1])


def settle(cluster: Cluster) -> None:
    """Every way starts alike: no earlier copy on node 2 and nothing left to write back."""
    cluster.ssh(2, f"rm -rf /root/tcp-copy /root/rsync-copy {HUB}/{REPO}; sync", check=True)


def report(size: int, args, median: dict[str, float], times: dict[str, list[float]], baseline: str) -> None:
    """Rates of the median runs, and ratios against the faster plain TCP copy (of the best runs too)."""
    tcp = median[baseline]
    print(f"tree: {size / (1 << 20):.0f} MiB in {args.shards} shards, node 1 -> node 2 over the simulated fabric; "
          f"median of {args.repeat} (load average {os.getloadavg()[0]:.1f})")
    rows = [("plain TCP file copy (1 stream, sendfile)", "tcp-1"),
            (f"plain TCP file copy ({args.streams} streams, sendfile)", "tcp-n"), ("rsync -a over ssh", "rsync"),
            (f"sparkctl copy phase ({args.streams} streams, sha256)", "copy"), ("sparkctl models sync, whole command", "whole")]
    for label, name in rows:
        seconds = median[name]
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"{label:44s} {seconds:6.2f} s {size / seconds / (1 << 20):7.1f} MiB/s  {tcp / seconds:.2f}x  (runs: {runs})")
    print(f"sparkctl copy vs the faster plain TCP copy ({baseline}): {tcp / median['copy']:.2f}x (target >= "
          f"{TARGET_RATIO}x); best runs: {min(times[baseline]) / min(times['copy']):.2f}x; "
          f"vs rsync: {median['rsync'] / median['copy']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
