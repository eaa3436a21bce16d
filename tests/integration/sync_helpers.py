"""What the sync integration tests share: sparkctl with the hub stand-in, and looks into the nodes' caches."""

from __future__ import annotations

from orchestrator.plan.hfcache import repo_dir
from tests.integration.sparkctl_run import Sparkctl

MODEL = "sim-org/tiny-model"
RECIPE = "tiny-sync"
IMAGE = "vllm-node-mxfp4:latest"
BIG = "sim-org/big-model"
HUB_DIR = "/root/.cache/huggingface/hub"
REPO_PATH = f"{HUB_DIR}/{repo_dir(MODEL)}"


class Synced(Sparkctl):
    """sparkctl with the test recipes and HF_ENDPOINT pointing at the hub stand-in."""

    def __init__(self, cluster, recipes, hub_url, token=None):
        super().__init__(cluster)
        self.recipes, self.hub_url, self.token = recipes, hub_url, token

    def env(self):
        env = super().env()
        env["HF_ENDPOINT"] = self.hub_url
        if self.token:
            env["HF_TOKEN"] = self.token
        return env

    def sync(self, kind: str, *args: str, recipe: str = RECIPE, **kwargs):
        return self.run("--recipes-dir", str(self.recipes), kind, "sync", recipe, *args, **kwargs)

    def start_sync(self, *args: str, recipe: str):
        """models sync in the background (stopped by the caller by PID)."""
        return self.start("--recipes-dir", str(self.recipes), "models", "sync", recipe, *args)


def snapshot_files(cluster, node: int) -> dict[str, int]:
    script = (f"cd {REPO_PATH}/snapshots/* && for f in *; do printf '%s %s\\n' \"$f\" \"$(stat -L -c %s \"$f\")\"; done"
              " && find . -xtype l | wc -l")
    lines = cluster.ssh(node, script, check=True).stdout.split("\n")
    assert lines[-2].strip() == "0", "dangling links"
    return dict((name, int(size)) for name, size in (line.split() for line in lines[:-2]))


def expected(hub) -> dict[str, int]:
    return {name: len(data) for name, data in hub.repos[MODEL].files.items()}


def flip_one_byte(cluster, node: int, path: str, offset: int = 4096) -> None:
    """Corrupt a file in place: same size, one bit different."""
    script = (f"f=$(readlink -f {path}); python3 -c 'import sys; f = open(sys.argv[1], \"r+b\"); f.seek({offset}); "
              f"b = f.read(1); f.seek({offset}); f.write(bytes([b[0] ^ 1]))' \"$f\"")
    cluster.ssh(node, script, check=True)


def part_files(cluster, node: int, model: str) -> list[str]:
    """Blobs being received (temporary names) on a node."""
    path = f"{HUB_DIR}/{repo_dir(model)}/blobs"
    return cluster.ssh(node, f"ls {path} 2>/dev/null | grep sparkctl-part || true").stdout.split()


def copiers_running(cluster, node: int) -> int:
    """How many copier processes run on a node."""
    return int(cluster.ssh(node, "pgrep -fc 'node-to-node [c]opier' || true").stdout.strip() or 0)
