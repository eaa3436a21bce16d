"""Mods: directories holding a run.sh that runs inside every container before serving (eugr's contract)."""

from __future__ import annotations

import functools
import hashlib
import io
import tarfile
from pathlib import Path

MAX_MOD_BYTES = 1 << 20
# Normalised metadata so the same files always make the same archive, hence the same recipe hash.
_EPOCH = 0


def mod_files(directory: str) -> list[Path]:
    """The regular files of a mod, in a stable order; symlinks and special files are not shipped."""
    root = Path(directory)
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def mod_problem(directory: str) -> str | None:
    """Why a directory cannot be a mod, or None."""
    root = Path(directory)
    if not root.is_dir():
        return f"mod directory {directory} not found"
    if not (root / "run.sh").is_file():
        return f"mod directory {directory} has no run.sh (eugr's contract: run.sh runs inside the container)"
    size = sum(p.stat().st_size for p in mod_files(directory))
    if size > MAX_MOD_BYTES:
        return f"mod {directory} holds {size} bytes; mods ship inside the plan, keep them under {MAX_MOD_BYTES} bytes"
    return None


def mod_archive(directory: str) -> bytes:
    """A deterministic gzip'd tar of the mod's files, relative to its directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT, compresslevel=9) as archive:
        for path in mod_files(directory):
            info = tarfile.TarInfo(str(path.relative_to(directory)))
            info.size, info.mtime, info.mode = path.stat().st_size, _EPOCH, 0o755 if path.name == "run.sh" else 0o644
            archive.addfile(info, io.BytesIO(path.read_bytes()))
    return _without_gzip_time(buffer.getvalue())


def _without_gzip_time(data: bytes) -> bytes:
    # The gzip header carries a timestamp (bytes 4-7); zero it so archives of equal files are equal.
    return data[:4] + b"\0\0\0\0" + data[8:]


def mod_digest(directory: str) -> str:
    """sha256 of the mod's archive: changing a mod's files changes the deployment's identity."""
    signature = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in mod_files(directory))
    return _digest(directory, signature)


@functools.lru_cache(maxsize=64)
def _digest(directory: str, _signature: tuple) -> str:
    # Keyed by the files' sizes and mtimes too, so an edited mod is hashed anew within one process.
    return hashlib.sha256(mod_archive(directory)).hexdigest()
