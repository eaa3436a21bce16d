"""The sim image builder: a valid docker-save tarball, every recipe tag, cached, and a rootfs that runs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.sim import image

pytestmark = pytest.mark.integration

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
BUILD_TIMEOUT_NOTE = "a cold build takes about 80 s (debootstrap and Ray)"


def needs_root() -> None:
    """Builds use debootstrap and chroot."""
    if os.geteuid() != 0:
        pytest.fail(f"building the sim image needs root; {BUILD_TIMEOUT_NOTE}", pytrace=False)


@pytest.fixture(scope="module")
def tarball() -> Path:
    """The image archive from the default cache (built on first use)."""
    needs_root()
    return image.ensure_image()


@pytest.fixture(scope="module")
def manifests(tarball: Path) -> list[dict]:
    """The archive's manifest entries: one per flag table, sharing all layers but their own last one."""
    with tarfile.open(tarball) as archive:
        entries = json.load(archive.extractfile("manifest.json"))
    assert len(entries) == 2 and entries[0]["Layers"][:-1] == entries[1]["Layers"][:-1]
    assert entries[0]["Layers"][-1] != entries[1]["Layers"][-1]
    return entries


@pytest.fixture(scope="module")
def manifest(manifests: list[dict]) -> dict:
    """The entry of `vllm-node`, with the tags of every entry (the layers are shared)."""
    (node,) = [entry for entry in manifests if "vllm-node:latest" in entry["RepoTags"]]
    return {**node, "RepoTags": [tag for entry in manifests for tag in entry["RepoTags"]]}


def member_sha256(archive: tarfile.TarFile, name: str) -> str:
    """Hash one member of the archive without extracting it to disk."""
    digest, handle = hashlib.sha256(), archive.extractfile(name)
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def layer_names(archive: tarfile.TarFile, layer: str) -> set[str]:
    """The normalized paths inside one layer tar."""
    with tarfile.open(fileobj=archive.extractfile(layer)) as inner:
        return {name.removeprefix("./").rstrip("/") for name in inner.getnames()}


def test_every_recipe_container_is_tagged(manifest: dict) -> None:
    wanted = {"vllm-node:latest", "vllm-node-mxfp4:latest"}
    for path in RECIPES.glob("*.yaml"):
        container = (yaml.safe_load(path.read_text()) or {}).get("container")
        if isinstance(container, str):
            wanted.add(container if ":" in container else f"{container}:latest")
    assert wanted <= set(manifest["RepoTags"])


def configs_by_tag(tarball: Path, manifests: list[dict]) -> dict[str, dict]:
    """Each tag's image config."""
    with tarfile.open(tarball) as archive:
        return {tag: json.load(archive.extractfile(e["Config"])) for e in manifests for tag in e["RepoTags"]}


def test_each_tag_names_the_vllm_its_standin_follows(tarball: Path, manifests: list[dict]) -> None:
    tables = {}
    with tarfile.open(tarball) as archive:
        for entry in manifests:
            with tarfile.open(fileobj=archive.extractfile(entry["Layers"][-1])) as layer:
                table = layer.extractfile("opt/standin/image_table").read().decode().strip()
            tables.update({tag: table for tag in entry["RepoTags"]})
    assert tables["vllm-node-mxfp4:latest"] == "vllm-mxfp4-fork"
    assert all(table == "vllm-0.33.0" for tag, table in tables.items() if "mxfp4" not in tag)


def test_config_and_diff_ids_match_layers(tarball: Path, manifest: dict) -> None:
    with tarfile.open(tarball) as archive:
        config = json.load(archive.extractfile(manifest["Config"]))
        assert manifest["Config"] == f"{member_sha256(archive, manifest['Config'])}.json"
        hashes = [f"sha256:{member_sha256(archive, layer)}" for layer in manifest["Layers"]]
    assert config["rootfs"]["diff_ids"] == hashes
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    env = config["config"]["Env"]
    assert env[0].startswith("PATH=/opt/venv/bin:") and 'RAY_OVERRIDE_RESOURCES={"GPU":1}' in env
    assert {"RAY_USAGE_STATS_ENABLED=0", "PYTHONUNBUFFERED=1"} <= set(env)


def test_rootfs_has_python_ray_and_vllm(tarball: Path, manifest: dict) -> None:
    with tarfile.open(tarball) as archive:
        names = set().union(*(layer_names(archive, layer) for layer in manifest["Layers"]))
    for path in (
        "usr/bin/python3",
        "opt/venv/bin/ray",
        "usr/local/bin/vllm",
        "opt/standin/vllm_standin.py",
        "opt/standin/vllm_flags/vllm-0.33.0.json",
        "opt/standin/vllm_flags/vllm-mxfp4-fork.json",
        "usr/bin/curl",
        "usr/bin/pkill",
        "usr/sbin/ip",
    ):
        assert path in names
    assert not any(name.startswith("wheels/") for name in names)


def test_second_call_is_cached(tarball: Path) -> None:
    started = time.monotonic()
    assert image.ensure_image() == tarball
    assert time.monotonic() - started < 1.0


@pytest.fixture(scope="module")
def rootfs(tarball: Path, manifest: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The image's layers unpacked in order into a directory, as docker would."""
    root = tmp_path_factory.mktemp("rootfs")
    with tarfile.open(tarball) as archive:
        for layer in manifest["Layers"]:
            unpack = subprocess.Popen(["tar", "-x", "--numeric-owner", "-C", str(root)], stdin=subprocess.PIPE)
            shutil.copyfileobj(archive.extractfile(layer), unpack.stdin, 1 << 20)
            unpack.stdin.close()
            assert unpack.wait(timeout=120) == 0
    yield root
    shutil.rmtree(root, ignore_errors=True)


def in_chroot(root: Path, *command: str, tag: str = "vllm-node", **extra: str) -> subprocess.CompletedProcess:
    """Run a command inside the unpacked image (vllm-node's layers) with the image's environment; another
    tag's own table layer is stood in for by VLLM_STANDIN_TABLE."""
    env = dict(item.split("=", 1) for item in image.tag_env())
    if tag != "vllm-node":
        env["VLLM_STANDIN_TABLE"] = image.table_for(tag)
    env.update({"HOME": "/root", **extra})
    return subprocess.run(["chroot", str(root), *command], env=env, capture_output=True, text=True, timeout=120)


def test_ray_imports_in_the_image(rootfs: Path) -> None:
    result = in_chroot(rootfs, "python3", "-c", "import ray; print(ray.__version__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == image.RAY_VERSION


def test_vllm_command_runs_in_the_image(rootfs: Path) -> None:
    result = in_chroot(rootfs, "vllm", "serve", "--help=all")
    assert result.returncode == 0, result.stderr
    assert "--tensor-parallel-size" in result.stdout and "--moe-backend" in result.stdout
    rejected = in_chroot(rootfs, "vllm", "serve", "m", "--no-such-flag")
    assert rejected.returncode == 2 and "vllm: error: unrecognized arguments: --no-such-flag" in rejected.stderr


def test_each_image_follows_its_vllm(rootfs: Path) -> None:
    assert in_chroot(rootfs, "vllm", "--version").stdout.strip() == "0.33.0"
    assert in_chroot(rootfs, "vllm", "--version", tag="vllm-node-mxfp4").stdout.strip() == "0.10.2+mxfp4"
    strict = {"VLLM_STANDIN_STRICT": "flags", "VLLM_STANDIN_FAULT": "crash-during-load", "VLLM_STANDIN_LOAD_SECONDS": "0"}
    layers = ("vllm", "serve", "m", "--mxfp4-layers", "moe,qkv,o")
    assert in_chroot(rootfs, *layers, **strict).returncode == 2
    fork = in_chroot(rootfs, *layers, tag="vllm-node-mxfp4", **strict)
    assert fork.returncode == 1 and "Starting to load model" in fork.stdout


def test_standin_change_rebuilds_only_its_layer(tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    for base in image.DEFAULT_CACHE.glob(f"base-{image.base_key()}.*"):
        os.link(base, cache / base.name)
    for wheels in image.DEFAULT_CACHE.glob("wheels-hub-*"):  # no registry inside an isolated run
        shutil.copytree(wheels, cache / wheels.name, copy_function=os.link)
    standin = tmp_path / "standin"
    shutil.copytree(image.STANDIN_DIR, standin, ignore=shutil.ignore_patterns("__pycache__"))
    (standin / "vllm_standin.py").write_text((standin / "vllm_standin.py").read_text() + "\n# changed\n")
    monkeypatch.setattr(image, "STANDIN_DIR", standin)
    started = time.monotonic()
    rebuilt = image.ensure_image(cache)
    assert time.monotonic() - started < 30
    assert rebuilt.name != tarball.name and len(list(cache.glob("base-*.tar"))) == 1


# ---- vllm-openai-stock: like upstream's vllm/vllm-openai (ENTRYPOINT vllm serve, no Ray), opt-in ----------
@pytest.fixture(scope="module")
def stock_tarball() -> Path:
    """The stock image archive (built on first use from the cached base layer)."""
    needs_root()
    return image.ensure_stock_image()


def test_stock_image_has_the_entrypoint_and_no_ray(stock_tarball: Path) -> None:
    with tarfile.open(stock_tarball) as archive:
        (entry,) = json.load(archive.extractfile("manifest.json"))
        config = json.load(archive.extractfile(entry["Config"]))
        whiteouts = layer_names(archive, entry["Layers"][2])
        table = layer_names(archive, entry["Layers"][3])
    assert entry["RepoTags"] == ["vllm-openai-stock:latest"] and len(entry["Layers"]) == 4
    assert config["config"]["Entrypoint"] == ["vllm", "serve"] and "opt/standin/image_table" in table
    assert not any(e.startswith("RAY_") for e in config["config"]["Env"])
    site = image.SITE_PACKAGES
    assert {f"{site}/.wh.ray", f"{site}/.wh.ray-{image.RAY_VERSION}.dist-info", "opt/venv/bin/.wh.ray"} <= whiteouts
    started = time.monotonic()
    assert image.ensure_stock_image() == stock_tarball and time.monotonic() - started < 5


def test_stock_image_is_opt_in() -> None:
    from tests.sim import images

    assert images.extra_image_names() == [] or os.environ.get("SPARKCTL_SIM_EXTRA_IMAGES")
    assert images.extra_image_names(["vllm-openai-stock"]) == ["vllm-openai-stock"]
    with pytest.raises(Exception, match="unknown extra image"):
        images.extra_image_names(["no-such-image"])


@pytest.fixture(scope="module")
def stock_node(sim_clusters):
    """A one-node cluster whose engine also holds vllm-openai-stock (the session's cluster is stopped first)."""
    needs_root()
    from tests.sim import Cluster, SimError

    sim_clusters.close()
    cluster = Cluster(sim_clusters.cluster.dir)
    try:
        cluster.up(1, docker=True, owner_pid=os.getpid(), extra_images=["vllm-openai-stock"])
    except SimError as error:
        pytest.fail(f"the simulated cluster could not start: {error}", pytrace=False)
    yield cluster
    cluster.down()


def test_stock_image_runs_vllm_serve_as_entrypoint_without_ray(stock_node) -> None:
    run = ["run", "--rm", "--pull", "never", "vllm-openai-stock"]
    tags = stock_node.docker(1, ["images", "--format", "{{.Repository}}"]).stdout.split()
    assert {"vllm-openai-stock", "vllm-node", "vllm-node-mxfp4"} <= set(tags)
    rejected = stock_node.docker(1, [*run[:-1], "-e", "VLLM_STANDIN_STRICT=flags", run[-1], "m", "--swap-space", "4"])
    assert rejected.returncode == 2 and "vllm: error: unrecognized arguments: --swap-space 4" in rejected.stderr
    helped = stock_node.docker(1, [*run, "--help=all"])
    assert helped.returncode == 0 and "--moe-backend" in helped.stdout
    no_ray = stock_node.docker(1, [*run[:-1], "--entrypoint", "python3", run[-1], "-c", "import ray"])
    assert no_ray.returncode == 1 and "No module named 'ray'" in no_ray.stderr
    # Model loading is strict by default; this checks the Ray error, so it skips the HF cache.
    lenient = [*run[:-1], "-e", "VLLM_STANDIN_STRICT=flags", run[-1]]
    two_gpus = stock_node.docker(1, [*lenient, "m", "-tp", "2", "--distributed-executor-backend", "ray"], timeout=60)
    assert two_gpus.returncode == 1 and "Ray" in two_gpus.stdout


def test_every_image_is_strict_unless_a_run_asks_for_lenient_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARKCTL_SIM_STANDIN_STRICT", raising=False)
    assert "VLLM_STANDIN_STRICT=all" in image.tag_env()
    strict_key = image.archive_key(["vllm-node:latest"])
    monkeypatch.setenv("SPARKCTL_SIM_STANDIN_STRICT", "off")
    assert not any(e.startswith("VLLM_STANDIN_STRICT=") for e in image.tag_env())
    assert image.archive_key(["vllm-node:latest"]) != strict_key  # a lenient build is cached apart
