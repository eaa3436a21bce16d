"""The copier's receiving end: blobs hashed as they arrive, renamed only when they match; or a pipe."""
import contextlib
import fcntl
import hashlib
import json
import mmap
import os
import re
import secrets
import socket
import struct
import subprocess
import sys
import threading
import time

if __package__:  # imported (tests, lint); on a node the parts arrive as one program
    from orchestrator.sync.programs.copier import (  # noqa: F401
        BUFFER,
        FRAME,
        HEADER,
        KEEPALIVE,
        STALL,
        Broken,
        accept,
        background,
        exact,
        fail,
        guarded,
        heartbeat,
        moved,
        read_json,
        receive_into,
        say,
        send_json,
    )

PART = ".sparkctl-part"
SPLICE_CHUNK = 1 << 20
HASH_REGION = 8 << 20  # few mappings, each hashed soon after its bytes land (still in memory, never re-read from disk)
PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = 1031
SPLICE_MOVE = getattr(os, "SPLICE_F_MOVE", 1)
SHA256 = re.compile("[0-9a-f]{64}")
GIT_SHA1 = re.compile("[0-9a-f]{40}")


def hasher(blob, entry):
    """How to check a blob: sha256 = its name (LFS) or the manifest's; else git's own sha1 of a git file."""
    if SHA256.fullmatch(blob) or len(entry) > 2:
        return hashlib.sha256(), blob if SHA256.fullmatch(blob) else entry[2]
    if GIT_SHA1.fullmatch(blob):  # a manifest from before sha256 was recorded: git names a file by this
        return hashlib.sha1(b"blob %d\0" % entry[1]), blob
    return None, None


def receive_blobs(conn, peer, blobs, wanted, resumed, errors):
    blocking_with_stall(conn)
    pipe = data_pipe()
    while True:
        length, offset, count = HEADER.unpack(exact(conn, HEADER.size, peer))
        if not length:
            return
        name = exact(conn, length, peer).decode()
        if name not in wanted or wanted[name][0] != offset + count or resumed.get(name, (0, None))[0] != offset:
            fail(f"{peer} sent {name} ({count} bytes from {offset}), which was not asked for")
        part = os.path.join(blobs, name + PART)
        digest, want = hasher(name, wanted[name][1])
        digest = resumed[name][1] if offset else digest
        write_stream(conn, peer, part, offset, count, digest, pipe)
        if digest and digest.hexdigest() != want:
            os.unlink(part)
            errors.append(f"{name}: {digest.name} {digest.hexdigest()[:16]} is not {want[:16]}")
            continue
        os.replace(part, os.path.join(blobs, name))


def write_stream(conn, peer, path, offset, count, digest, pipe):
    """Splice count bytes from conn into path at offset (no copy through Python); hash each region as it lands."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | (0 if offset else os.O_TRUNC), 0o644)
    os.truncate(fd, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    end, hashed = offset + count, offset
    while offset < end:
        offset += splice_in(conn, peer, pipe, fd, min(end - offset, SPLICE_CHUNK))
        landed = offset if offset == end else offset - offset % mmap.PAGESIZE
        if digest and (landed - hashed >= HASH_REGION or landed == end) and landed > hashed:
            hash_region(digest, fd, hashed, landed)
            hashed = landed
    os.close(fd)


def splice_in(conn, peer, pipe, fd, size):
    """Move up to size bytes socket -> pipe -> file in the kernel; how many moved."""
    try:
        count = os.splice(conn.fileno(), pipe[1], size, flags=SPLICE_MOVE)
    except BlockingIOError:  # SO_RCVTIMEO passed with nothing received
        raise Broken(f"no data from {peer} for {STALL:g} s") from None
    except OSError as exc:
        raise Broken(f"receiving from {peer} failed: {exc}") from None
    if not count:
        raise Broken(f"the stream from {peer} was cut before its end")
    left = count
    while left:
        left -= os.splice(pipe[0], fd, left, flags=SPLICE_MOVE)
    moved[0] += count
    return count


def hash_region(digest, fd, start, end):
    """Hash bytes start..end of the file just written, read from the page cache through one populated mapping."""
    base = start - start % mmap.PAGESIZE
    with (mmap.mmap(fd, end - base, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE, prot=mmap.PROT_READ, offset=base) as mm,
          memoryview(mm) as view, view[start - base:] as region):
        digest.update(region)


def data_pipe():
    """A pipe as large as the kernel allows unprivileged, for splicing."""
    pipe = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe[1], F_SETPIPE_SZ, PIPE_SIZE)
    return pipe


def blocking_with_stall(conn):
    """Blocking reads that the kernel ends after STALL seconds without data: splice needs a blocking socket."""
    conn.settimeout(None)
    seconds = int(STALL)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", seconds, int((STALL - seconds) * 1e6)))


def resume_points(blobs, wanted, control):
    """What an interrupted run received of each wanted blob, hashed again (the sender waits, told so)."""
    points = {}
    for blob, (size, entry) in wanted.items():
        part = os.path.join(blobs, blob + PART)
        have = os.path.getsize(part) if os.path.isfile(part) else 0
        digest = hasher(blob, entry)[0]
        if 0 < have < size and digest:
            prime(digest, part, have, control)
            points[blob] = (have, digest)
    return points


def prime(digest, path, size, control):
    buffer, said = memoryview(bytearray(BUFFER)), time.monotonic()
    with open(path, "rb", buffering=0) as source:
        while size:
            count = source.readinto(buffer[:min(size, BUFFER)])
            digest.update(buffer[:count])
            size -= count
            if time.monotonic() - said > 1:
                send_json(control, {"wait": "re-hashing a half-received blob"})
                said = time.monotonic()


def lacking(root, manifest):
    blobs = os.path.join(root, "blobs")
    wanted = {entry[0]: (entry[1], entry) for entry in manifest["files"].values()}
    return {blob: spec for blob, spec in wanted.items() if not held(os.path.join(blobs, blob), spec[0])}


def held(path, size):
    return os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) == size


def finish_snapshot(root, offer):
    manifest, commit = offer["manifest"], offer["manifest"]["commit"]
    for path, (blob, *_rest) in manifest["files"].items():
        link = os.path.join(root, "snapshots", commit, path)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        target = os.path.relpath(os.path.join(root, "blobs", blob), os.path.dirname(link))
        if not (os.path.islink(link) and os.readlink(link) == target):
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(target, link)
    for ref, value in offer["refs"].items():
        write_atomic(os.path.join(root, ref), value)
    write_atomic(os.path.join(root, ".sparkctl", commit + ".json"), json.dumps(manifest))


def write_atomic(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + PART, "w") as out:
        out.write(text)
    os.replace(path + PART, path)


def refuse_escapes(offer):
    """Every name the offer makes us write stays inside the repo dir."""
    manifest = offer["manifest"]
    names = [manifest["commit"], *(entry[0] for entry in manifest["files"].values())]
    paths = [*manifest["files"], *offer["refs"]]
    if not all(GIT_SHA1.fullmatch(n) or SHA256.fullmatch(n) for n in names) or any(
            os.path.isabs(p) or ".." in p.split("/") for p in paths):
        fail("the offer names a file outside the repo; refused")


def receive_files(server, token, control, peer, root, offer):
    if not hasattr(os, "splice"):
        fail(f"receiving a model needs python3 3.10 or later on the node (os.splice); it has {sys.version.split()[0]}")
    refuse_escapes(offer)
    os.makedirs(os.path.join(root, "blobs"), exist_ok=True)
    wanted = lacking(root, offer["manifest"])
    resumed = resume_points(os.path.join(root, "blobs"), wanted, control)
    send_json(control, {"want": [[b, resumed.get(b, (0,))[0]] for b in sorted(wanted, key=lambda b: -wanted[b][0])]})
    errors, threads = [], []
    for _ in range(min(offer["streams"], len(wanted))):
        conn, _peer = accept(server, token, "data")
        threads.append(threading.Thread(target=guarded, args=(receive_blobs, conn, peer, os.path.join(root, "blobs"),
                                                               wanted, resumed, errors)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    if not errors:
        finish_snapshot(root, offer)
    return errors


def receive_pipe(control, peer, command):
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        while size := FRAME.unpack(exact(control, FRAME.size, peer))[0]:
            if size != KEEPALIVE:
                process.stdin.write(exact(control, size, peer))
                moved[0] += size
        process.stdin.close()
    except BrokenPipeError:
        pass
    except Broken:
        process.kill()
        raise
    code = process.wait()
    return [f"{command[0]} {command[1]} exited {code}"] if code else []


def receive(ip, mode, rest):
    server = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
    server.bind((ip, 0))
    server.listen(64)
    server.settimeout(60)
    token = secrets.token_hex(16)
    say(f"listen={server.getsockname()[1]} {token}")
    background(heartbeat)
    control, peer = accept(server, token, "control")
    server.settimeout(STALL)
    offer = read_json(control.makefile("rb"), peer) if mode == "files" else None
    started = time.monotonic()
    errors = receive_files(server, token, control, peer, rest[0], offer) if offer else receive_pipe(control, peer, rest)
    send_json(control, {"errors": errors})
    say(f"received={moved[0]}\nseconds={time.monotonic() - started:.3f}")
    if errors:
        fail("; ".join(errors[:5]))


