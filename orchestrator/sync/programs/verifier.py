"""Re-hash every blob of a finished snapshot on this node, blobs in parallel; remove those that differ.

argv: repo dir, revision. A removed blob leaves its snapshot link dangling, which the next copy repairs.
Prints hashed=<count> and bad=<json list of snapshot paths>.
"""
import hashlib
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

SHA256 = re.compile("[0-9a-f]{64}")
GIT_SHA1 = re.compile("[0-9a-f]{40}")


def commit_of(root, revision):
    if re.fullmatch("[0-9a-f]{40}", revision):
        return revision
    try:
        with open(os.path.join(root, "refs", revision)) as ref:
            return ref.read().strip()
    except OSError:
        return None


def check_of(blob, size, sha):
    """sha256 = the blob's name (LFS) or the manifest's; else git's sha1 of the file, which names it."""
    if SHA256.fullmatch(blob) or sha:
        return "sha256", b"", blob if SHA256.fullmatch(blob) else sha[0]
    return ("sha1", b"blob %d\0" % size, blob) if GIT_SHA1.fullmatch(blob) else None


def digest(path, check):
    hasher = hashlib.new(check[0], check[1])
    with open(path, "rb", buffering=0) as source:
        buffer = memoryview(bytearray(8 << 20))
        while count := source.readinto(buffer):
            hasher.update(buffer[:count])
    return hasher.hexdigest()


def main(root, revision):
    commit = commit_of(root, revision)
    try:
        with open(os.path.join(root, ".sparkctl", f"{commit}.json")) as source:
            files = json.load(source)["files"]
    except (OSError, ValueError, TypeError):
        print("hashed=0\nbad=[]")
        return
    wanted = {}
    for path, (blob, size, *sha) in files.items():
        check = check_of(blob, size, sha)
        if check and os.path.isfile(os.path.join(root, "blobs", blob)):
            wanted.setdefault(blob, (check, []))[1].append(path)
    blobs = sorted(wanted)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1, len(blobs) or 1)) as pool:
        found = dict(zip(blobs, pool.map(lambda b: digest(os.path.join(root, "blobs", b), wanted[b][0]), blobs),
                         strict=True))
    bad = sorted(path for blob in blobs if found[blob] != wanted[blob][0][2] for path in wanted[blob][1])
    for blob in blobs:
        if found[blob] != wanted[blob][0][2]:
            os.unlink(os.path.join(root, "blobs", blob))
    print(f"hashed={len(blobs)}\nbad={json.dumps(bad)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
