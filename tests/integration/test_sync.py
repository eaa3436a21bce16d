"""images sync, models sync and up --setup on the simulated cluster, with a Hugging Face Hub stand-in."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time

import pytest

from tests.integration.sparkctl_run import stop, wait_for
from tests.integration.sync_helpers import (
    BIG,
    IMAGE,
    MODEL,
    RECIPE,
    REPO_PATH,
    Synced,
    copiers_running,
    expected,
    flip_one_byte,
    part_files,
    snapshot_files,
)
from tests.sim.hub import Hub, HubServer, generated_repo


@pytest.fixture(scope="module")
def hub_state():
    return Hub({MODEL: generated_repo(shards=3, shard_bytes=2 << 20), BIG: generated_repo(shards=4, shard_bytes=16 << 20)})


@pytest.fixture
def recipes(tmp_path, hub_state):
    (tmp_path / f"{RECIPE}.yaml").write_text(f"extends: gpt-oss-20b\nmodel: {MODEL}\nserved_name: tiny\n")
    pinned = hub_state.repos[MODEL].commit
    (tmp_path / "pinned.yaml").write_text(f"extends: {RECIPE}\nrevision: '{pinned}'\n")
    (tmp_path / "big.yaml").write_text(f"extends: gpt-oss-20b\nmodel: {BIG}\nserved_name: big\n")
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


def test_verify_finds_a_same_size_one_byte_corruption_and_repairs_it(three):
    cluster, spark, hub = three
    spark.sync("models", check=True)
    shard = f"{REPO_PATH}/snapshots/*/model-00002-of-00003.safetensors"
    flip_one_byte(cluster, 2, shard)
    assert "nothing to copy" in spark.sync("models", check=True).stdout  # same size: only hashing sees it
    fixed = spark.sync("models", "--verify", check=True)
    assert "1 files differ from their sha256" in fixed.stderr and "model-00002-of-00003" in fixed.stderr
    assert "copied" in fixed.stdout and "to spark2 at" in fixed.stdout
    digest = cluster.ssh(2, f"sha256sum $(readlink -f {shard})", check=True).stdout.split()
    assert digest[0] == os.path.basename(digest[1])
    again = spark.sync("models", "--verify", "--nodes", "spark2", check=True)
    assert "5 blobs match their sha256" in again.stderr, again.stderr
    assert hub.downloads() == len(hub.repos[MODEL].files)


def test_a_stray_file_in_the_snapshot_is_reported_left_alone_and_pruned_on_request(three):
    cluster, spark, hub = three
    spark.sync("models", check=True)
    cluster.ssh(2, f"cd {REPO_PATH}/snapshots/* && echo mine > notes.txt && ln -s ../nowhere old-link", check=True)
    kept = spark.sync("models", check=True)
    assert "nothing to copy" in kept.stdout and "dangling" not in kept.stderr
    assert "files not in the manifest, left alone" in kept.stderr and "notes.txt" in kept.stderr
    assert cluster.ssh(2, f"cat {REPO_PATH}/snapshots/*/notes.txt", check=True).stdout == "mine\n"
    spark.sync("models", "--prune", check=True)
    assert cluster.ssh(2, f"ls {REPO_PATH}/snapshots/*/", check=True).stdout.split() == sorted(expected(hub))


@pytest.mark.parametrize("net", ["both", "fabric", "mgmt"])
def test_a_node_cut_mid_copy_fails_the_sync_within_10s_naming_node_and_link(three, net):
    cluster, spark, hub = three
    spark.sync("models", "--nodes", "spark1", recipe="big", check=True)
    running = spark.start_sync("--bwlimit", "4", recipe="big")
    try:
        assert wait_for(lambda: part_files(cluster, 3, BIG), 20, 0.2), "the copy to spark3 never started"
        cluster.cut(3, net)
        cut_at = time.monotonic()
        _out, err = stop(running, 30)
        failed_after = time.monotonic() - cut_at
    finally:
        cluster.heal(3, net)
    print(f"cut {net} mid-copy: sync failed after {failed_after:.2f}s")
    assert running.returncode != 0 and failed_after < 10, (failed_after, err)
    link = "management link" if net == "mgmt" else "fabric link"
    assert "spark3" in err and link in err, err
    resumed = spark.sync("models", recipe="big", check=True)
    assert "complete on spark1, spark2, spark3" in resumed.stdout
    assert hub.downloads() == len(hub.repos[BIG].files)
    copied = float(re.search(r"copied ([\d.]+) MiB", resumed.stdout).group(1))
    assert copied < 2 * 64, "the half-received blobs were sent again whole"


def test_ctrl_c_mid_copy_stops_every_transfer_within_2s_and_the_next_run_completes(three):
    cluster, spark, hub = three
    spark.sync("models", "--nodes", "spark1", recipe="big", check=True)
    running = spark.start_sync("--bwlimit", "4", recipe="big")
    assert wait_for(lambda: part_files(cluster, 2, BIG) and part_files(cluster, 3, BIG), 20, 0.2)
    time.sleep(1.5)  # some bytes of every blob in flight have arrived
    running.send_signal(signal.SIGINT)
    interrupted_at = time.monotonic()
    stop(running, 30)
    print(f"SIGINT mid-copy: exited {running.returncode} after {time.monotonic() - interrupted_at:.2f}s")
    assert running.returncode == 130 and time.monotonic() - interrupted_at < 2
    assert wait_for(lambda: sum(copiers_running(cluster, n.index) for n in cluster.nodes) == 0, 2, 0.2)
    resumed = spark.sync("models", recipe="big", check=True)
    assert "complete on spark1, spark2, spark3" in resumed.stdout
    assert hub.downloads() == len(hub.repos[BIG].files)
    copied = float(re.search(r"copied ([\d.]+) MiB", resumed.stdout).group(1))
    assert copied < 2 * 64, "the half-received blobs were sent again whole"
