"""A tiny image whose config names the other architecture, as when an amd64 image lands on an arm64 Spark."""

from __future__ import annotations

import hashlib
import io
import json
import platform
import subprocess
import tarfile

from tests.sim import engine
from tests.sim.layout import NodeLayout
from tests.sim.shell import SimError

FOREIGN_TAG = "sparkctl-sim/foreign-arch:latest"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "amd64": "amd64"}


def host_arch() -> str:
    """This machine's architecture in Docker's words."""
    return _ARCH.get(platform.machine(), platform.machine())


def foreign_arch() -> str:
    """The architecture a Spark image must not have on this machine."""
    return "amd64" if host_arch() == "arm64" else "arm64"


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def layer_tar() -> bytes:
    """A one-file layer: enough for `docker image inspect`, never meant to run."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        _add(archive, "README", b"built for another architecture; sparkctl doctor should say so\n")
    return buffer.getvalue()


def image_archive(tag: str, arch: str) -> bytes:
    """A `docker save` archive whose config names `arch` (`docker import --platform` is ignored by some engines)."""
    layer = layer_tar()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["/README"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["layer/layer.tar"]}]).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (("layer/layer.tar", layer), (config_name, config), ("manifest.json", manifest)):
            _add(archive, name, data)
    return buffer.getvalue()


def load_foreign_image(node: NodeLayout, tag: str = FOREIGN_TAG) -> str:
    """Load the foreign-architecture image into the node's engine; return its architecture."""
    arch = foreign_arch()
    argv = engine.docker_argv(node, "load")
    done = subprocess.run(argv, input=image_archive(tag, arch), capture_output=True, timeout=60)
    if done.returncode != 0:
        raise SimError(f"{node.name}: could not load {tag}: {done.stderr.decode(errors='replace').strip()}")
    return arch


def remove_image(node: NodeLayout, tag: str = FOREIGN_TAG) -> None:
    """Remove the foreign image from the node's engine."""
    subprocess.run(engine.docker_argv(node, "image", "rm", "-f", tag), capture_output=True, timeout=60)
