"""Builds the LiteLLM proxy image for the simulated cluster as a `docker save` tarball, without a daemon.

Layer 1 is the sim image's cached base (Debian minbase, Python, Ray); layer 2 is /opt/litellm, a venv with
`litellm[proxy]` installed offline in a chroot from wheels the host downloaded. It carries the tag of
sparkctl's default proxy image, so `up replicas` finds it like it would on a real Spark.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path

from tests.sim.image import (
    DEFAULT_CACHE,
    CacheLock,
    add_file_member,
    add_member,
    base_key,
    cached_base_layer,
    image_config,
    log,
    normalize_tag,
    pip_download_args,
    prune,
    remove_rootfs,
    run,
    sha256_bytes,
    sha256_file,
)

LITELLM_VERSION = "1.108.7"
REQUIREMENT = f"litellm[proxy]=={LITELLM_VERSION}"
# The image's Python is 3.11.2, the host's may be newer: fetch what only an older 3.11 needs too.
EXTRA_WHEELS = ("async-timeout>=4.0.3",)
TAG = normalize_tag(f"litellm/litellm:v{LITELLM_VERSION}")
VENV = "opt/litellm"
LAYOUT = b"proxy-v1"
IMAGE_ENV = [
    f"PATH=/{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PYTHONUNBUFFERED=1",
]


def proxy_key(base_layer: Path) -> str:
    """Content key: what goes into the image (bump LAYOUT when the build changes), not this file's other code."""
    return sha256_bytes(LAYOUT, REQUIREMENT.encode(), json.dumps(IMAGE_ENV).encode(), base_layer.name.encode())[:16]


def proxy_wheels(cache_dir: Path) -> Path:
    """Download (once) LiteLLM's wheels on the host: pip inside the chroot cannot reach an index."""
    wheels = cache_dir / f"wheels-litellm-{sha256_bytes(REQUIREMENT.encode(), *map(str.encode, EXTRA_WHEELS))[:12]}"
    if not wheels.is_dir():
        partial = wheels.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        log(f"downloading {REQUIREMENT} wheels on the host")
        run([sys.executable, "-m", "pip", "download", "-q", REQUIREMENT, *EXTRA_WHEELS, "-d", str(partial),
             *pip_download_args()])
        os.replace(partial, wheels)
    return wheels


def build_layer(base_layer: Path, layer: Path) -> None:
    """Unpack the base into a scratch rootfs, install LiteLLM into /opt/litellm offline, pack that dir."""
    for stale in layer.parent.glob("proxy-rootfs-*"):
        remove_rootfs(stale)
    rootfs = layer.parent / f"proxy-rootfs-{os.getpid()}"
    started = time.monotonic()
    try:
        rootfs.mkdir()
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-xf", str(base_layer)])
        shutil.copytree(proxy_wheels(layer.parent), rootfs / "wheels")
        log(f"installing {REQUIREMENT} into /{VENV} inside the rootfs")
        run(["chroot", str(rootfs), "python3", "-m", "venv", f"/{VENV}"])
        run(["chroot", str(rootfs), f"/{VENV}/bin/pip", "install", "-q", "--no-index", "--no-cache-dir",
             "--find-links", "/wheels", REQUIREMENT])
        partial = layer.with_suffix(".partial")
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "--", VENV])
        os.replace(partial, layer)
    finally:
        remove_rootfs(rootfs)
    log(f"proxy layer built in {time.monotonic() - started:.0f} s ({layer.stat().st_size >> 20} MiB)")


def proxy_image_config(diff_ids: list[str]) -> bytes:
    """The image config: no entrypoint (sparkctl passes `--entrypoint litellm`), LiteLLM first on PATH."""
    return image_config(diff_ids, IMAGE_ENV, ["sparkctl sim base (debootstrap + ray)", f"sparkctl sim {REQUIREMENT}"])


def write_archive(out: Path, layers: list[tuple[Path, str]]) -> None:
    """Write the docker-save archive: manifest.json, config and the layers."""
    config = proxy_image_config([diff for _path, diff in layers])
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [TAG], "Layers": [f"{d}/layer.tar" for _p, d in layers]}]
    partial = out.with_suffix(".partial")
    with tarfile.open(partial, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for path, diff in layers:
            add_member(archive, diff, None, 0o755)
            add_member(archive, f"{diff}/VERSION", b"1.0", 0o644)
            add_file_member(archive, f"{diff}/layer.tar", path)
        add_member(archive, config_name, config, 0o644)
        add_member(archive, "manifest.json", json.dumps(manifest).encode(), 0o644)
    os.replace(partial, out)


def ensure_proxy_image(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Return a cached docker-save tarball of the proxy image, building whatever is stale."""
    ready = cache_dir / f"sim-proxy-{proxy_key(cache_dir / f'base-{base_key()}.tar')}.tar"
    if ready.exists():
        return ready
    cache_dir.mkdir(parents=True, exist_ok=True)
    with CacheLock(cache_dir):
        base_layer, base_diff = cached_base_layer(cache_dir)
        key = proxy_key(base_layer)
        out = cache_dir / f"sim-proxy-{key}.tar"
        if out.exists():
            return out
        layer = cache_dir / f"proxy-layer-{key}.tar"
        if not layer.exists():
            build_layer(base_layer, layer)
        log(f"writing {out.name} tagged {TAG}")
        write_archive(out, [(base_layer, base_diff), (layer, sha256_file(layer))])
        layer.unlink()
        prune(cache_dir, "sim-proxy-*.tar", {out.name})
    return out


def main(argv: list[str] | None = None) -> int:
    """Build (or reuse) the proxy image and print the tarball's path."""
    parser = argparse.ArgumentParser(prog="python -m tests.sim.proxy_image", description=__doc__)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    print(ensure_proxy_image(parser.parse_args(argv).cache_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
