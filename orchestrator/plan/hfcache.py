"""What a node's Hugging Face cache holds of a model, and what it lacks, compared by a manifest.

A snapshot is complete when `models--org--name/.sparkctl/<commit>.json` (written after a finished
download or copy) lists every file of the revision and each snapshot link resolves to a blob of the
listed size. The manifest travels last, so a node with a manifest got everything before it. Each entry is
[blob, size, sha256?]: LFS blobs are named by their sha256; small git files carry it as the third item.
Files in a snapshot that the manifest does not list are strays: reported, left alone unless pruned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

MANIFEST_DIR = ".sparkctl"

# Runs on a node: argv[1] = repo dir, argv[2] = revision; prints model_state=<json> in one round trip.
CHECKER = r"""
import json, os, re, sys
root, revision = sys.argv[1], sys.argv[2]
state = {"commit": None, "blobs": {}, "links": {}, "manifest": None, "refs": []}
refs = os.path.join(root, "refs")
if os.path.isdir(refs):
    state["refs"] = sorted(os.path.relpath(os.path.join(d, n), root) for d, _, ns in os.walk(refs) for n in ns)
if re.fullmatch("[0-9a-f]{40}", revision):
    state["commit"] = revision
else:
    try:
        state["commit"] = open(os.path.join(root, "refs", revision)).read().strip()
    except OSError:
        pass
blobs = os.path.join(root, "blobs")
for name in os.listdir(blobs) if os.path.isdir(blobs) else []:
    path = os.path.join(blobs, name)
    if "." not in name and os.path.isfile(path) and not os.path.islink(path):  # not *.incomplete, *.sparkctl-part
        state["blobs"][name] = os.path.getsize(path)
commit = state["commit"]
snapshot = os.path.join(root, "snapshots", commit) if commit else None
if snapshot and os.path.isdir(snapshot):
    for folder, _dirs, files in os.walk(snapshot):
        for name in files:
            path = os.path.join(folder, name)
            target = os.path.realpath(path)
            ok = os.path.islink(path) and os.path.isfile(target) and os.path.dirname(target) == os.path.realpath(blobs)
            state["links"][os.path.relpath(path, snapshot)] = os.path.basename(target) if ok else None
    try:
        state["manifest"] = json.load(open(os.path.join(root, ".sparkctl", commit + ".json")))
    except (OSError, ValueError):
        pass
print("model_state=" + json.dumps(state, separators=(",", ":")))
"""

# Runs in the recipe's image: snapshot_download, then the manifest; failures become one clear line.
DOWNLOADER = r"""
import hashlib, json, os, re, sys
from huggingface_hub import snapshot_download
from huggingface_hub.utils import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
repo, revision = sys.argv[1], sys.argv[2] or None
try:
    path = snapshot_download(repo, revision=revision)
except GatedRepoError:
    sys.exit(f"model {repo}: gated; accept its licence on the hub and set HF_TOKEN to a token with access")
except RevisionNotFoundError:
    sys.exit(f"model {repo}: revision {revision} not found on the hub")
except RepositoryNotFoundError:
    sys.exit(f"model {repo}: not found on the hub (check the name; a private repo needs HF_TOKEN)")
except HfHubHTTPError as exc:
    status = getattr(exc.response, "status_code", "?")
    hint = "; HF_TOKEN was refused (expired or wrong?)" if status in (401, 403) else ""
    sys.exit(f"model {repo}: the hub answered HTTP {status}{hint}")
except OSError as exc:
    sys.exit(f"model {repo}: download failed: {exc}")
commit = os.path.basename(path)
files = {}
for folder, _dirs, names in os.walk(path):
    for name in names:
        link = os.path.join(folder, name)
        blob = os.path.basename(os.path.realpath(link))
        entry = [blob, os.path.getsize(link)]
        if not re.fullmatch("[0-9a-f]{64}", blob):  # a git file: its blob name is no sha256, so record one
            entry.append(hashlib.sha256(open(link, "rb").read()).hexdigest())
        files[os.path.relpath(link, path)] = entry
manifest = os.path.join(os.path.dirname(os.path.dirname(path)), ".sparkctl")
os.makedirs(manifest, exist_ok=True)
with open(os.path.join(manifest, commit + ".part"), "w") as out:
    json.dump({"commit": commit, "files": files}, out)
os.replace(os.path.join(manifest, commit + ".part"), os.path.join(manifest, commit + ".json"))
print(f"commit={commit}\nfiles={len(files)}\nbytes={sum(entry[1] for entry in files.values())}")
"""


def repo_dir(model: str) -> str:
    """`org/name` -> `models--org--name` (the HF cache folder)."""
    return "models--" + model.replace("/", "--")


@dataclass(frozen=True)
class CacheState:
    """One node's cache of one model at one revision, as the checker saw it."""

    node: str
    commit: str | None = None
    blobs: dict[str, int] = field(default_factory=dict)
    links: dict[str, str | None] = field(default_factory=dict)
    manifest: dict | None = None
    refs: tuple[str, ...] = ()

    @classmethod
    def parse(cls, node: str, stdout: str) -> CacheState:
        """From the checker's `model_state=` line."""
        line = next((ln for ln in stdout.splitlines() if ln.startswith("model_state=")), None)
        if line is None:
            return cls(node)
        data = json.loads(line.removeprefix("model_state="))
        return cls(node, data["commit"], data["blobs"], data["links"], data["manifest"], tuple(data["refs"]))

    def problems(self, manifest: dict | None = None) -> list[str]:
        """What keeps this snapshot from being complete against a manifest (its own by default)."""
        manifest = manifest or self.manifest
        if not self.commit:
            return ["not in the cache"]
        if manifest is None:
            return ["no finished download or copy (no manifest)"]
        found = []
        for path, (blob, size, *_sha) in sorted(manifest["files"].items()):
            link = self.links.get(path, "absent")
            if link == "absent":
                found.append(f"{path}: missing")
            elif link is None:
                found.append(f"{path}: dangling link")
            elif link != blob or self.blobs.get(blob) != size:
                found.append(f"{path}: size {self.blobs.get(link, 0)} of {size}")
        return found

    def strays(self, manifest: dict | None = None) -> list[str]:
        """Snapshot files the manifest does not list: not ours to judge, so never problems."""
        manifest = manifest or self.manifest
        return sorted(set(self.links) - set(manifest["files"])) if manifest else []

    @property
    def complete(self) -> bool:
        """Every file of the revision present with the right size, no dangling link among them."""
        return self.manifest is not None and not self.problems()


def blob_bytes(manifest: dict, target: CacheState) -> int:
    """Bytes of blobs the target lacks."""
    blobs = {entry[0]: entry[1] for entry in manifest["files"].values()}
    return sum(size for blob, size in blobs.items() if target.blobs.get(blob) != size)
