"""`sparkctl models sync` from node 1 to 3 nodes against `rsync -a` over ssh node by node, on the simulated cluster.

Run as root inside private namespaces (the sim's subnets are fixed):
  SPARKCTL_SIM_DIR=/var/lib/sparkctl-sim/sync unshare --net --mount --propagation private \\
      tests/sim/isolated.sh .venv/bin/python bench/sync.py [--mb 2048] [--shards 4]
Generates random safetensors shards in the HF cache layout (blobs, symlinked snapshot, refs, manifest) on
node 1, copies them with rsync (node 1 -> each node's fabric IP, one after another, as an operator would)
and with sparkctl (node to node over the fabric, in parallel), checks every copy, and prints bytes/s and
the ratio. Targets: sparkctl >= 1.0x rsync's rate; a second sync of the unchanged tree under 2 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sim import Cluster  # noqa: E402

SPARKCTL = ROOT / ".venv" / "bin" / "sparkctl"
MODEL = "bench/model"
REPO = "models--bench--model"
NODES = 4
TARGET_RATIO = 1.0
TARGET_RESYNC = 2.0


def generate(home: Path, total_mb: int, shards: int) -> int:
    """Write a model repo into node 1's HF cache; return its bytes."""
    repo = home / ".cache/huggingface/hub" / REPO
    commit = hashlib.sha1(f"{total_mb}-{shards}".encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    for folder in (repo / "blobs", snapshot, repo / "refs", repo / ".sparkctl"):
        folder.mkdir(parents=True, exist_ok=True)
    files = {"config.json": b'{"model_type": "bench"}'}
    files |= {f"model-{i:05d}-of-{shards:05d}.safetensors": b"" for i in range(1, shards + 1)}
    manifest = {}
    for name, data in files.items():
        size = len(data) or total_mb * (1 << 20) // shards
        blob = _write_blob(repo / "blobs", data, size)
        (snapshot / name).symlink_to(f"../../blobs/{blob}")
        manifest[name] = [blob, size]
    (repo / "refs" / "main").write_text(commit)
    (repo / ".sparkctl" / f"{commit}.json").write_text(json.dumps({"commit": commit, "files": manifest}))
    return sum(size for _, size in manifest.values())


def _write_blob(blobs: Path, data: bytes, size: int) -> str:
    digest, partial = hashlib.sha256(), blobs / "partial"
    with partial.open("wb") as out:
        left = size
        while left:
            chunk = data or os.urandom(min(left, 8 << 20))
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    partial.rename(blobs / digest.hexdigest())
    return digest.hexdigest()


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Run argv to success; its wall time."""
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}... failed:\n{result.stdout}\n{result.stderr}")
    return time.monotonic() - started


def rsync_all(cluster: Cluster) -> float:
    """rsync -a over ssh (fabric IPs) from node 1 to each other node, one after another."""
    ssh = f"ssh -i {cluster.layout.client_key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    total = 0.0
    for node in cluster.nodes[1:]:
        command = (f"rsync -a --mkpath -e '{ssh}' /root/.cache/huggingface/hub/{REPO}/ "
                   f"root@{node.fabric_ip}:/root/rsync-copy/{REPO}/")
        total += timed(["ssh", "-F", str(cluster.ssh_config), cluster.nodes[0].name, command])
    return total


def check_copies(cluster: Cluster, where: str) -> None:
    """Every target holds the same files as node 1, links resolving."""
    listing = f"cd {where} && find . -type l -printf '%p %l\\n' | sort && find -L . -type f -printf '%p %s\\n' | sort"
    want = cluster.ssh(1, listing.replace(where, f"/root/.cache/huggingface/hub/{REPO}"), check=True).stdout
    for node in cluster.nodes[1:]:
        got = cluster.ssh(node.index, listing, check=True).stdout
        if got != want:
            raise SystemExit(f"{node.name}: the copy in {where} differs from node 1's tree")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=2048, help="model size in MiB (default 2048)")
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    cluster = Cluster(os.environ.get("SPARKCTL_SIM_DIR", "/var/lib/sparkctl-sim/sync"))
    cluster.up(NODES, docker=False)
    try:
        return measure(cluster, args)
    finally:
        cluster.down()


def measure(cluster: Cluster, args) -> int:
    size = generate(cluster.nodes[0].home, args.mb, args.shards)
    recipes = Path(tempfile.mkdtemp())
    (recipes / "bench-sync.yaml").write_text(f"extends: gpt-oss-20b\nmodel: {MODEL}\n")
    env = {**os.environ, "SPARKCTL_INVENTORY": str(cluster.inventory_path)}
    sync = [str(SPARKCTL), "--recipes-dir", str(recipes), "models", "sync", "bench-sync"]
    rsync_seconds = rsync_all(cluster)
    check_copies(cluster, f"/root/rsync-copy/{REPO}")
    sparkctl_seconds = timed(sync, env)
    check_copies(cluster, f"/root/.cache/huggingface/hub/{REPO}")
    resync = timed(sync, env)
    moved = size * (NODES - 1)
    ratio = rsync_seconds / sparkctl_seconds
    print(f"tree: {size / (1 << 20):.0f} MiB in {args.shards} shards, copied from node 1 to {NODES - 1} nodes "
          f"({moved / (1 << 20):.0f} MiB moved)")
    print(f"rsync -a over ssh, node by node: {rsync_seconds:6.2f} s  {moved / rsync_seconds / (1 << 20):7.1f} MiB/s")
    print(f"sparkctl models sync:            {sparkctl_seconds:6.2f} s  {moved / sparkctl_seconds / (1 << 20):7.1f} MiB/s")
    print(f"ratio (sparkctl rate / rsync rate): {ratio:.2f}x (target >= {TARGET_RATIO:.1f}x)")
    print(f"second sync of the unchanged tree: {resync:.2f} s (target < {TARGET_RESYNC:.0f} s)")
    return 0 if ratio >= TARGET_RATIO and resync < TARGET_RESYNC else 1


if __name__ == "__main__":
    sys.exit(main())
