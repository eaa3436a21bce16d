"""images sync, models sync and up --setup on the simulated cluster, with a Hugging Face Hub stand-in."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from orchestrator.plan.hfcache import repo_dir
from tests.integration.sparkctl_run import Sparkctl
from tests.sim.hub import Hub, HubServer, generated_repo

MODEL = "sim-org/tiny-model"
RECIPE = "tiny-sync"
IMAGE = "vllm-node-mxfp4:latest"
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


@pytest.fixture(scope="module")
def hub_state():
    return Hub({MODEL: generated_repo(shards=3, shard_bytes=2 << 20)})


@pytest.fixture
def recipes(tmp_path, hub_state):
    (tmp_path / f"{RECIPE}.yaml").write_text(f"extends: gpt-oss-20b\nmodel: {MODEL}\nserved_name: tiny\n")
    pinned = hub_state.repos[MODEL].commit
    (tmp_path / "pinned.yaml").write_text(f"extends: {RECIPE}\nrevision: '{pinned}'\n")
    (tmp_path / "unknown-model.yaml").write_text("extends: gpt-oss-20b\nmodel: sim-org/nope\n")
    return tmp_path


@pytest.fixture
def three(sim_cluster_factory, hub_state, recipes):
    cluster = sim_cluster_factory(nodes=3)
    for node in cluster.nodes:
        cluster.ssh(node.index, "rm -rf /root/.cache/huggingface", check=True)
    hub_state.requests.clear()
    hub_state.token = None
    # Started after the cluster: it listens on the management bridge's address.
    with HubServer(hub_state) as server:
        yield cluster, Synced(cluster, recipes, server.url), hub_state


def snapshot_files(cluster, node: int) -> dict[str, int]:
    script = (f"cd {REPO_PATH}/snapshots/* && for f in *; do printf '%s %s\\n' \"$f\" \"$(stat -L -c %s \"$f\")\"; done"
              " && find . -xtype l | wc -l")
    lines = cluster.ssh(node, script, check=True).stdout.split("\n")
    assert lines[-2].strip() == "0", "dangling links"
    return dict((name, int(size)) for name, size in (line.split() for line in lines[:-2]))


def expected(hub) -> dict[str, int]:
    return {name: len(data) for name, data in hub.repos[MODEL].files.items()}


def test_models_sync_downloads_once_copies_and_second_run_copies_nothing(three):
    cluster, spark, hub = three
    first = spark.sync("models", check=True)
    assert hub.downloads() == len(hub.repos[MODEL].files)
    assert "complete on spark1, spark2, spark3" in first.stdout and "MiB/s" in first.stdout
    for node in cluster.nodes:
        assert snapshot_files(cluster, node.index) == expected(hub)
        links = cluster.ssh(node.index, f"readlink {REPO_PATH}/snapshots/*/config.json", check=True).stdout
        assert links.startswith("../../blobs/")
    again = spark.sync("models", check=True)
    assert "nothing to copy" in again.stdout
    assert hub.downloads() == len(hub.repos[MODEL].files)


def test_models_sync_repairs_half_written_blob_and_dangling_link(three):
    cluster, spark, hub = three
    spark.sync("models", check=True)
    shard = "model-00002-of-00003.safetensors"
    cluster.ssh(2, f"f=$(readlink -f {REPO_PATH}/snapshots/*/{shard}); truncate -s 1000 \"$f\"", check=True)
    cluster.ssh(3, f"rm \"$(readlink -f {REPO_PATH}/snapshots/*/config.json)\"", check=True)
    fixed = spark.sync("models", check=True)
    assert "copied" in fixed.stdout and "spark2" in fixed.stdout and "spark3" in fixed.stdout
    assert "size 1000 of" in fixed.stderr and "dangling link" in fixed.stderr
    for node in (2, 3):
        assert snapshot_files(cluster, node) == expected(hub)
    assert hub.downloads() == len(hub.repos[MODEL].files)


def test_models_sync_resumes_an_interrupted_copy(three):
    cluster, spark, hub = three
    spark.sync("models", "--nodes", "spark1", check=True)
    # An interrupted copy: the blobs arrived, the largest only half, no links and no manifest.
    blobs = [cluster.nodes[i].home / REPO_PATH.removeprefix("/root/") / "blobs" for i in (0, 1)]
    shutil.copytree(blobs[0], blobs[1])
    largest = max(blobs[1].iterdir(), key=lambda p: p.stat().st_size)
    os.truncate(largest, 4096)
    resumed = spark.sync("models", check=True)
    assert "needs copy" in resumed.stderr
    assert snapshot_files(cluster, 2) == expected(hub) == snapshot_files(cluster, 3)
    assert hub.downloads() == len(hub.repos[MODEL].files)


def test_models_sync_bad_input_gives_clear_messages(three):
    cluster, spark, hub = three
    unknown = spark.sync("models", recipe="unknown-model")
    assert unknown.returncode != 0 and "not found on the hub" in unknown.stderr
    hub.token = "the-right-token"
    refused = Synced(cluster, spark.recipes, spark.hub_url, token="hf_wrong_secret_token").sync("models")
    assert refused.returncode != 0 and "HF_TOKEN was refused" in refused.stderr
    assert "hf_wrong_secret_token" not in refused.stdout + refused.stderr
    accepted = Synced(cluster, spark.recipes, spark.hub_url, token="the-right-token").sync("models", check=True)
    assert "complete on" in accepted.stdout


def test_images_sync_ships_only_to_nodes_that_lack_the_image(three):
    cluster, spark, _hub = three
    cluster.docker(2, ["rmi", IMAGE], check=True)
    result = spark.sync("images", check=True)
    assert "copied" in result.stdout and "to spark2 at" in result.stdout and "spark3" not in result.stdout.split("copied")[1]
    layers = {cluster.docker(n.index, ["image", "inspect", "--format", "{{json .RootFS.Layers}}", IMAGE],
                             check=True).stdout for n in cluster.nodes}
    assert len(layers) == 1
    again = spark.sync("images", check=True)
    assert "nothing to copy" in again.stdout


def test_up_solo_setup_on_a_fresh_node_downloads_once_and_serves(three):
    cluster, spark, hub = three
    spark.run("down", check=True)
    cluster.docker(1, ["rmi", IMAGE], check=True)
    missing = spark.run("--recipes-dir", str(spark.recipes), "up", "solo", RECIPE)
    assert missing.returncode != 0 and "--setup" in missing.stderr
    try:
        up = spark.run("--recipes-dir", str(spark.recipes), "up", "solo", RECIPE, "--setup", check=True)
        assert "endpoint: http://10.77.0.11:8000/v1" in up.stdout
        assert hub.downloads() == len(hub.repos[MODEL].files)
        assert snapshot_files(cluster, 1) == expected(hub)
        status = json.loads(spark.run("--json", "status", check=True).stdout)
        assert [row["health"] for row in status] == ["ready"]
    finally:
        spark.run("down", check=True)


def test_sync_to_chosen_nodes_works_while_another_node_is_down(three):
    cluster, spark, hub = three
    cluster.kill(3)
    try:
        spark.sync("images", "--nodes", "spark1,spark2", check=True)
        result = spark.sync("models", "--nodes", "spark1,spark2", check=True)
        assert "complete on spark1, spark2" in result.stdout
        assert snapshot_files(cluster, 2) == expected(hub)
    finally:
        cluster.boot(3)


def test_models_sync_of_a_pinned_revision(three):
    cluster, spark, hub = three
    spark.sync("models", recipe="pinned", check=True)
    commit = hub.repos[MODEL].commit
    for node in cluster.nodes:
        assert cluster.ssh(node.index, f"ls {REPO_PATH}/snapshots", check=True).stdout.split() == [commit]
        assert snapshot_files(cluster, node.index) == expected(hub)
    assert "nothing to copy" in spark.sync("models", recipe="pinned", check=True).stdout


def test_a_cut_fabric_link_fails_clearly_and_the_next_run_resumes(three):
    cluster, spark, hub = three
    spark.sync("models", "--nodes", "spark1", check=True)
    cluster.cut(3, "fabric")
    try:
        cut = spark.sync("models", timeout=120)
    finally:
        cluster.heal(3, "fabric")
    assert cut.returncode != 0 and "cannot reach 10.78.0.13" in cut.stderr
    assert snapshot_files(cluster, 2) == expected(hub)
    resumed = spark.sync("models", check=True)
    assert "to spark3 at" in resumed.stdout and "spark2" not in resumed.stdout.split("copied")[1]
    assert snapshot_files(cluster, 3) == expected(hub)
    assert hub.downloads() == len(hub.repos[MODEL].files)
