"""Builds the simulated cluster's container image as a `docker save` tarball, without a docker daemon.

Layer 1 is a Debian minbase rootfs with Python and Ray in /opt/venv (slow, cached by its own key);
layer 2 is the vLLM stand-in (cheap) with the flag tables of tests/sim/vllm_flags. The archive is tagged
with every recipe's `container:` value. A last, tiny layer per image names the vLLM its stand-in follows
(/opt/standin/image_table): `vllm-node-mxfp4` the MXFP4 fork (0.10.2-based), every other tag vLLM 0.33.0;
so images following different vLLMs differ in layers, as real ones do (sparkctl keys what it learns about an
image by its layers), and share the rest. Every image's stand-in is strict (`VLLM_STANDIN_STRICT=all`: unknown
flags, the model from the HF cache, --help as its vLLM) unless SPARKCTL_SIM_STANDIN_STRICT says otherwise at build time.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import yaml

RAY_VERSION = "2.60.0"
# The Hugging Face client real vLLM images ship (`sparkctl models sync` downloads with it); pure-Python
# wheels, unpacked into the venv by the stand-in layer. Ray already brings requests, filelock, pyyaml.
HUB_WHEELS = ("huggingface_hub==0.36.0", "fsspec==2026.9.0", "tqdm==4.70.1")
SITE_PACKAGES = "opt/venv/lib/python3.11/site-packages"
SUITE = "bookworm"
BASE_PACKAGES = "python3,python3-venv,procps,curl,ca-certificates,iproute2"
ALWAYS_TAGS = ("vllm-node", "vllm-node-mxfp4")
DEFAULT_CACHE = Path(os.environ.get("SPARKCTL_SIM_CACHE") or "/var/cache/sparkctl-sim")
REPO_ROOT = Path(__file__).resolve().parents[2]
RECIPES_DIR = REPO_ROOT / "recipes"
STANDIN_DIR = Path(__file__).resolve().parent / "standin"
TABLES_DIR = Path(__file__).resolve().parent / "vllm_flags"
DEFAULT_TABLE = "vllm-0.33.0"
TABLE_BY_TAG = {"vllm-node-mxfp4": "vllm-mxfp4-fork"}
IMAGE_ENV = [
    "PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'RAY_OVERRIDE_RESOURCES={"GPU":1}',
    "RAY_USAGE_STATS_ENABLED=0",
    "PYTHONUNBUFFERED=1",
]
LAUNCHER = b"""#!/opt/venv/bin/python3
import sys
sys.path.insert(0, "/opt/standin")
from vllm_standin import main
sys.exit(main())
"""
LOCK_TIMEOUT_S = 1800
KEEP_ARCHIVES = 3
COMMAND_TIMEOUT_S = 1200


def log(message: str) -> None:
    """Print one progress line to stderr."""
    print(f"[sim-image] {message}", file=sys.stderr, flush=True)


def normalize_tag(tag: str) -> str:
    """Return the tag with `:latest` added when it names no tag."""
    return tag if ":" in tag.rsplit("/", 1)[-1] else f"{tag}:latest"


def recipe_tags(recipes_dir: Path = RECIPES_DIR) -> list[str]:
    """Collect every top-level `container:` value in the recipes, plus the always-present tags."""
    tags = set(ALWAYS_TAGS)
    for path in sorted(recipes_dir.glob("*.yaml")) if recipes_dir.is_dir() else []:
        data = yaml.safe_load(path.read_text()) or {}
        if isinstance(data, dict) and isinstance(data.get("container"), str):
            tags.add(data["container"].strip())
    return sorted(normalize_tag(tag) for tag in tags if tag)


# `import vllm.envs` answers like the real module: the VLLM_* variables the image's vLLM reads.
VLLM_ENVS = b"""import sys
sys.path.insert(0, "/opt/standin")
from standin_flags import image_table

environment_variables = {name: None for name in image_table()["env_vars"]}
"""


def standin_files() -> list[Path]:
    """List the stand-in's source files in a stable order."""
    return sorted(STANDIN_DIR.glob("*.py"))


def table_files() -> list[Path]:
    """The flag tables the stand-in reads (/opt/standin/vllm_flags in the image)."""
    return sorted(TABLES_DIR.glob("vllm-*.json"))


def table_for(tag: str) -> str:
    """The flag table a tag's stand-in follows."""
    return TABLE_BY_TAG.get(tag.rsplit(":", 1)[0], DEFAULT_TABLE)


# As strict as a real Spark unless a test asks otherwise: unknown flags fail, the model must be in the HF cache,
# and each image's --help behaves like its own vLLM.
DEFAULT_STRICT = "all"


def strict_env() -> list[str]:
    """`VLLM_STANDIN_STRICT=...` for every image (SPARKCTL_SIM_STANDIN_STRICT=off builds a lenient set)."""
    strict = os.environ.get("SPARKCTL_SIM_STANDIN_STRICT", DEFAULT_STRICT).strip()
    return [f"VLLM_STANDIN_STRICT={strict}"] if strict and strict != "off" else []


def tag_env(base_env: list[str] | None = None) -> list[str]:
    """An image's environment."""
    return [*(base_env or IMAGE_ENV), *strict_env()]


def table_layer_bytes(table: str) -> bytes:
    """The layer that makes an image follow one vLLM: /opt/standin/image_table."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for directory in ("opt", "opt/standin"):
            add_member(archive, directory, None, 0o755)
        add_member(archive, "opt/standin/image_table", f"{table}\n".encode(), 0o644)
    return buffer.getvalue()


def sha256_bytes(*parts: bytes) -> str:
    """Hash the parts, each length-prefixed so boundaries count."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """Hash a file's bytes in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def base_key() -> str:
    """Key of the base rootfs layer: what goes into it, not this file's other code."""
    return sha256_bytes(b"base-v1", SUITE.encode(), BASE_PACKAGES.encode(), RAY_VERSION.encode())[:16]


def archive_key(tags: list[str]) -> str:
    """Key of the final archive: builder source, stand-in source, Ray version and tags."""
    parts = [Path(__file__).read_bytes(), RAY_VERSION.encode(), "\n".join(tags).encode(), "".join(strict_env()).encode()]
    parts += [p.name.encode() + b"\0" + p.read_bytes() for p in standin_files() + table_files()]
    return sha256_bytes(*parts)[:16]


def debian_mirror() -> str:
    """Read the Debian mirror URL from the host's apt sources."""
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        for uri in re.findall(r"^URIs:\s*(\S+)", deb822.read_text(), re.MULTILINE):
            if "security" not in uri:
                return uri
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for match in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", legacy.read_text(), re.MULTILINE):
            if "security" not in match.group(1) and "security" not in match.group(2):
                return match.group(1)
    raise RuntimeError("no Debian mirror found in the host's apt sources")


def run(cmd: list[str], **kwargs: object) -> None:
    """Run a build command, bounded, failing loudly with its output."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def pip_download_args() -> list[str]:
    """Pin the wheels to the image's Python when the host's differs."""
    if sys.version_info[:2] == (3, 11):
        return []
    return ["--python-version", "3.11", "--only-binary=:all:", "--platform", "manylinux2014_x86_64"]


def install_ray(rootfs: Path) -> None:
    """Create /opt/venv in the rootfs and install Ray offline from wheels the host downloaded."""
    wheels = rootfs / "wheels"
    log(f"downloading ray=={RAY_VERSION} wheels on the host")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            f"ray=={RAY_VERSION}",
            "-d",
            str(wheels),
            *pip_download_args(),
        ]
    )
    log("creating /opt/venv and installing Ray inside the rootfs")
    run(["chroot", str(rootfs), "python3", "-m", "venv", "/opt/venv"])
    run(
        [
            "chroot",
            str(rootfs),
            "/opt/venv/bin/pip",
            "install",
            "-q",
            "--no-index",
            "--no-cache-dir",
            "--find-links",
            "/wheels",
            f"ray=={RAY_VERSION}",
        ]
    )
    shutil.rmtree(wheels)


def slim_rootfs(rootfs: Path) -> None:
    """Drop apt caches and bytecode caches the image does not need."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "root/.cache"):
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def unmount_below(root: Path) -> None:
    """Unmount what a failed debootstrap left mounted inside the rootfs, deepest first, before deleting it."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{root}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, timeout=30)


def remove_rootfs(rootfs: Path) -> None:
    """Delete a build directory safely."""
    if rootfs.exists():
        unmount_below(rootfs)
        shutil.rmtree(rootfs, ignore_errors=True)


def build_base_layer(layer: Path) -> None:
    """Debootstrap a rootfs, add Python and Ray, and pack it as an uncompressed layer tar."""
    # Only one build holds the lock, so any other build directory is left over from a killed build.
    for stale in layer.parent.glob("rootfs-*"):
        remove_rootfs(stale)
    rootfs = layer.parent / f"rootfs-{os.getpid()}"
    started = time.monotonic()
    try:
        log(f"debootstrap {SUITE} minbase into {rootfs} (about a minute)")
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={BASE_PACKAGES}",
                SUITE,
                str(rootfs),
                debian_mirror(),
            ]
        )
        install_ray(rootfs)
        slim_rootfs(rootfs)
        log("packing the base layer")
        partial = layer.with_suffix(".partial")
        entries = sorted(os.listdir(rootfs))
        run(["tar", "-C", str(rootfs), "--numeric-owner", "--xattrs", "-cf", str(partial), "--", *entries])
        os.replace(partial, layer)
    finally:
        remove_rootfs(rootfs)
    log(f"base layer built in {time.monotonic() - started:.0f} s ({layer.stat().st_size >> 20} MiB)")


def add_member(archive: tarfile.TarFile, name: str, data: bytes | None, mode: int) -> None:
    """Add a file (or a directory when data is None) with fixed ownership and time."""
    info = tarfile.TarInfo(name)
    info.mode, info.mtime, info.uid, info.gid = mode, 0, 0, 0
    if data is None:
        info.type = tarfile.DIRTYPE
        archive.addfile(info)
    else:
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))


def hub_wheels(cache_dir: Path) -> list[Path]:
    """Download (once) the Hugging Face client's wheels on the host."""
    wheels = cache_dir / f"wheels-hub-{sha256_bytes(*(w.encode() for w in HUB_WHEELS))[:12]}"
    if not wheels.is_dir():
        partial = wheels.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        log(f"downloading {', '.join(HUB_WHEELS)} wheels on the host")
        run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", *HUB_WHEELS,
             "-d", str(partial)])
        os.replace(partial, wheels)
    return sorted(wheels.glob("*.whl"))


def add_wheel(archive: tarfile.TarFile, wheel: Path) -> None:
    """Unpack a pure-Python wheel into the venv's site-packages (what pip would do, minus scripts)."""
    import zipfile

    with zipfile.ZipFile(wheel) as zipped:
        for name in sorted(zipped.namelist()):
            if not name.endswith("/"):
                add_member(archive, f"{SITE_PACKAGES}/{name}", zipped.read(name), 0o644)


def standin_layer_bytes(wheels: list[Path] = ()) -> bytes:
    """Pack the stand-in into /opt/standin, its launcher into /usr/local/bin/vllm, and the hub client."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for directory in ("opt", "opt/standin", "opt/standin/vllm_flags", "usr", "usr/local", "usr/local/bin"):
            add_member(archive, directory, None, 0o755)
        for path in standin_files():
            add_member(archive, f"opt/standin/{path.name}", path.read_bytes(), 0o644)
        for path in table_files():
            add_member(archive, f"opt/standin/vllm_flags/{path.name}", path.read_bytes(), 0o644)
        add_member(archive, "usr/local/bin/vllm", LAUNCHER, 0o755)
        for directory in (f"{SITE_PACKAGES}/vllm",):
            add_member(archive, directory, None, 0o755)
        add_member(archive, f"{SITE_PACKAGES}/vllm/__init__.py", b"", 0o644)
        add_member(archive, f"{SITE_PACKAGES}/vllm/envs.py", VLLM_ENVS, 0o644)
        for wheel in wheels:
            add_wheel(archive, wheel)
    return buffer.getvalue()


def image_config(
    diff_ids: list[str],
    env: list[str] | None = None,
    history: list[str] | None = None,
    entrypoint: list[str] | None = None,
) -> bytes:
    """The image config JSON: platform, environment (and entrypoint) and the layers' diff IDs."""
    steps = history or ["sparkctl sim base (debootstrap + ray)", "sparkctl sim vllm stand-in"]
    settings: dict = {"Env": env or IMAGE_ENV, "WorkingDir": "/"}
    if entrypoint:
        settings["Entrypoint"] = entrypoint
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2025-01-01T00:00:00Z",
        "config": settings,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in diff_ids]},
        "history": [{"created_by": step} for step in steps],
    }
    return json.dumps(config, sort_keys=True).encode()


def add_file_member(archive: tarfile.TarFile, name: str, path: Path) -> None:
    """Stream a large file from disk into the archive."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
    with path.open("rb") as handle:
        archive.addfile(info, handle)


def write_archive(
    out: Path,
    base_layer: Path,
    base_diff: str,
    tags: list[str],
    wheels: list[Path] = (),
    extra_layers: list[bytes] = (),
    entrypoint: list[str] | None = None,
    history: list[str] | None = None,
    base_env: list[str] | None = None,
) -> None:
    """Write the docker-save archive: manifest.json, one image per flag table (tags grouped), shared layers
    (base, stand-in, `extra_layers`) and each image's table layer on top."""
    by_table: dict[str, list[str]] = {}
    for tag in tags:
        by_table.setdefault(table_for(tag), []).append(tag)
    layers = {hashlib.sha256(top).hexdigest(): top for top in [standin_layer_bytes(wheels), *extra_layers]}
    shared = [base_diff, *layers]
    configs, manifest = {}, []
    for table, table_tags in sorted(by_table.items()):
        own = table_layer_bytes(table)
        diffs = [*shared, hashlib.sha256(own).hexdigest()]
        layers[diffs[-1]] = own
        steps = [*(history or ["sparkctl sim base (debootstrap + ray)", "sparkctl sim vllm stand-in"]),
                 f"sparkctl sim follows {table}"]
        config = image_config(diffs, tag_env(base_env), steps, entrypoint)
        config_name = f"{hashlib.sha256(config).hexdigest()}.json"
        configs[config_name] = config
        manifest.append({"Config": config_name, "RepoTags": table_tags, "Layers": [f"{d}/layer.tar" for d in diffs]})
    partial = out.with_suffix(".partial")
    with tarfile.open(partial, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for diff in (base_diff, *layers):
            add_member(archive, diff, None, 0o755)
            add_member(archive, f"{diff}/VERSION", b"1.0", 0o644)
        add_file_member(archive, f"{base_diff}/layer.tar", base_layer)
        for diff, top in layers.items():
            add_member(archive, f"{diff}/layer.tar", top, 0o644)
        for name, config in configs.items():
            add_member(archive, name, config, 0o644)
        add_member(archive, "manifest.json", json.dumps(manifest).encode(), 0o644)
    os.replace(partial, out)


def cached_base_layer(cache_dir: Path) -> tuple[Path, str]:
    """Return the base layer and its diff ID, building it once per base key."""
    layer = cache_dir / f"base-{base_key()}.tar"
    digest_file = layer.with_suffix(".sha256")
    if not (layer.exists() and digest_file.exists()):
        build_base_layer(layer)
        digest_file.write_text(sha256_file(layer))
    return layer, digest_file.read_text().strip()


def prune(cache_dir: Path, pattern: str, keep_names: set[str]) -> None:
    """Keep the cache bounded: delete all but the newest few matching files."""
    files = sorted(cache_dir.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in files[KEEP_ARCHIVES:]:
        if stale.name not in keep_names:
            stale.unlink(missing_ok=True)
            stale.with_suffix(".sha256").unlink(missing_ok=True)


class CacheLock:
    """An exclusive flock on the cache directory, waited for with a deadline."""

    def __init__(self, cache_dir: Path) -> None:
        self.handle = (cache_dir / ".lock").open("a")

    def __enter__(self) -> CacheLock:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError("another image build holds the cache lock") from None
                time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def ensure_image(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Return a cached docker-save tarball of the sim image, building whatever is stale."""
    tags = recipe_tags()
    out = cache_dir / f"sim-image-{archive_key(tags)}.tar"
    if out.exists():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    with CacheLock(cache_dir):
        if out.exists():
            return out
        base_layer, base_diff = cached_base_layer(cache_dir)
        log(f"writing {out.name} with tags {', '.join(tags)}")
        write_archive(out, base_layer, base_diff, tags, hub_wheels(cache_dir))
        prune(cache_dir, "sim-image-*.tar", {out.name})
        prune(cache_dir, "base-*.tar", {base_layer.name})
    return out


# ---- a variant like upstream's vllm/vllm-openai: `vllm serve` as entrypoint, no Ray ----------------------
STOCK_TAG = "vllm-openai-stock:latest"
STOCK_ENTRYPOINT = ["vllm", "serve"]
STOCK_ENV = [
    "PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PYTHONUNBUFFERED=1",
]
STOCK_HISTORY = ["sparkctl sim base (debootstrap + ray)", "sparkctl sim vllm stand-in", "remove ray (whiteouts)"]


def ray_paths(base_layer: Path) -> list[str]:
    """What Ray put into the base layer: its package, its dist-info and its console scripts."""
    dist_info = f"{SITE_PACKAGES}/ray-{RAY_VERSION}.dist-info"
    scripts: list[str] = []
    with tarfile.open(base_layer) as archive:
        for member in archive:
            if member.name.removeprefix("./") == f"{dist_info}/entry_points.txt":
                section = ""
                for line in archive.extractfile(member).read().decode().splitlines():
                    line = line.strip()
                    if line.startswith("["):
                        section = line
                    elif section == "[console_scripts]" and "=" in line:
                        scripts.append(f"opt/venv/bin/{line.split('=', 1)[0].strip()}")
                break
    if not scripts:
        raise RuntimeError(f"no Ray console scripts found in {base_layer.name} ({dist_info}/entry_points.txt)")
    return [f"{SITE_PACKAGES}/ray", dist_info, *scripts]


def whiteout_layer_bytes(paths: list[str]) -> bytes:
    """A layer deleting `paths` from the layers below (OCI/AUFS whiteout files `.wh.<name>`)."""
    buffer = io.BytesIO()
    parents = sorted({str(Path(p).parent) for p in paths} | {str(q) for p in paths for q in Path(p).parents})
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for directory in (d for d in parents if d != "."):
            add_member(archive, directory, None, 0o755)
        for path in sorted(paths):
            add_member(archive, str(Path(path).parent / f".wh.{Path(path).name}"), b"", 0o644)
    return buffer.getvalue()


def stock_key(base_layer: Path) -> str:
    """Key of the stock archive: builder source, stand-in, tables and the base layer it builds on."""
    parts = [Path(__file__).read_bytes(), base_layer.name.encode(), b"stock-v1"]
    parts += [p.name.encode() + b"\0" + p.read_bytes() for p in standin_files() + table_files()]
    return sha256_bytes(*parts)[:16]


def ensure_stock_image(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """A docker-save tarball of `vllm-openai-stock`: the stand-in (vLLM 0.33.0) as entrypoint, Ray removed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with CacheLock(cache_dir):
        base_layer, base_diff = cached_base_layer(cache_dir)
        out = cache_dir / f"sim-stock-{stock_key(base_layer)}.tar"
        if out.exists():
            return out
        log(f"writing {out.name} with tag {STOCK_TAG}")
        whiteouts = whiteout_layer_bytes(ray_paths(base_layer))
        write_stock_archive(out, base_layer, base_diff, hub_wheels(cache_dir), whiteouts)
        prune(cache_dir, "sim-stock-*.tar", {out.name})
    return out


def write_stock_archive(out: Path, base_layer: Path, base_diff: str, wheels: list[Path], whiteouts: bytes) -> None:
    """The stock image's archive: base, stand-in and whiteout layers, one config with the entrypoint."""
    write_archive(out, base_layer, base_diff, [STOCK_TAG], wheels, [whiteouts], STOCK_ENTRYPOINT, STOCK_HISTORY,
                  STOCK_ENV)


def main(argv: list[str] | None = None) -> int:
    """Build (or reuse) the image and print the tarball's path."""
    parser = argparse.ArgumentParser(prog="python -m tests.sim.image", description=__doc__)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--stock", action="store_true", help=f"build {STOCK_TAG} instead")
    args = parser.parse_args(argv)
    print(ensure_stock_image(args.cache_dir) if args.stock else ensure_image(args.cache_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
