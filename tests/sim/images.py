"""The images loaded into every node's engine: a tiny busybox image of ours plus the project image."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

from tests.sim.image import add_member
from tests.sim.shell import SimError

BUSYBOX = Path("/bin/busybox")
BUSYBOX_TAG = "sim-busybox:latest"
CACHE_DIR = Path(os.environ.get("SPARKCTL_SIM_CACHE", "/var/cache/sparkctl-sim"))
APPLETS = ("sh", "ls", "cat", "echo", "sleep", "httpd", "wget", "hostname", "ip", "ps", "nc", "true", "env")


# Images a test can ask for on top of the default set (Cluster.up(extra_images=...) or, for a whole run,
# SPARKCTL_SIM_EXTRA_IMAGES=name,...): name -> the builder function's name in tests.sim.image.
EXTRA_IMAGES = {"vllm-openai-stock": "ensure_stock_image"}


def extra_image_names(extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The requested extra images plus SPARKCTL_SIM_EXTRA_IMAGES, checked against EXTRA_IMAGES."""
    names = [*extra, *(n.strip() for n in os.environ.get("SPARKCTL_SIM_EXTRA_IMAGES", "").split(",") if n.strip())]
    unknown = sorted(set(names) - set(EXTRA_IMAGES))
    if unknown:
        raise SimError(f"unknown extra image(s) {', '.join(unknown)}: choose from {', '.join(EXTRA_IMAGES)}")
    return sorted(set(names))


def image_tarballs(cache_dir: Path = CACHE_DIR, extra_images: tuple[str, ...] | list[str] = ()) -> list[Path]:
    """docker-save tarballs to load into each node: ours (busybox), the project's and the LiteLLM proxy's,
    plus any opt-in extra image (e.g. `vllm-openai-stock`, built only when asked for)."""
    from tests.sim import image  # imported late: building it may be slow and is not needed otherwise
    from tests.sim.proxy_image import ensure_proxy_image

    tarballs = [busybox_tarball(cache_dir), image.ensure_image(cache_dir), ensure_proxy_image(cache_dir)]
    return tarballs + [getattr(image, EXTRA_IMAGES[name])(cache_dir) for name in extra_image_names(extra_images)]


def busybox_tarball(cache_dir: Path) -> Path:
    """A FROM-scratch image holding busybox-static, built in Python and cached by content."""
    binary = BUSYBOX.read_bytes()
    if b"ld-linux" in binary[:65536]:
        raise SimError(f"{BUSYBOX} is dynamically linked; the image needs busybox-static (apt-get install busybox-static)")
    digest = hashlib.sha256(binary + ",".join(APPLETS).encode()).hexdigest()[:16]
    out = cache_dir / f"sim-busybox-{digest}.tar"
    if not out.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(_save_archive(_layer(binary)))
        tmp.replace(out)
    return out


def _layer(binary: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        add_member(layer, "bin", None, 0o755)
        add_member(layer, "bin/busybox", binary, 0o755)
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            layer.addfile(link)
        for directory in ("tmp", "www", "etc", "proc", "sys", "dev"):
            add_member(layer, directory, None, 0o1777 if directory == "tmp" else 0o755)
        add_member(layer, "www/index.html", b"sim-busybox\n", 0o644)
    return buffer.getvalue()


def _save_archive(layer: bytes) -> bytes:
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64" if os.uname().machine == "x86_64" else "arm64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [BUSYBOX_TAG], "Layers": ["layer/layer.tar"]}])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        add_member(archive, "layer", None, 0o755)
        add_member(archive, "layer/layer.tar", layer, 0o644)
        add_member(archive, config_name, config, 0o644)
        add_member(archive, "manifest.json", manifest.encode(), 0o644)
    return buffer.getvalue()
