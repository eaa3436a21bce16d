"""sparkctl's node-to-node copier: `receive` runs on the target, `send` on the source (stdlib only).

files: the blobs of a Hugging Face repo that the target lacks travel over several TCP streams; the sender
uses sendfile (the kernel moves the bytes), the receiver hashes each blob with sha256 as it arrives, writes
it under a temporary name and renames it only when the hash matches the blob's name (LFS) or the manifest.
pipe: one command's output (docker save) streams into another (docker load), framed so a cut shows.
Both ends print progress twice a second (the orchestrator's heartbeat) and exit when stdin closes.
"""
import hashlib
import hmac
import json
import os
import queue
import re
import secrets
import socket
import struct
import subprocess
import sys
import threading
import time

STALL = 5.0
BUFFER = 4 << 20
SENDFILE_CHUNK = 64 << 20
PART = ".sparkctl-part"
HEADER = struct.Struct(">HQ")  # blob name length (0 ends a stream), byte count
FRAME = struct.Struct(">I")  # pipe mode: chunk length, 0 ends the stream
KEEPALIVE = 0xFFFFFFFF  # pipe mode: "still here" while the command prepares its output (docker save does)
SHA256 = re.compile("[0-9a-f]{64}")
moved = [0]
STARTED = time.monotonic()


class Broken(Exception):
    """The peer stopped answering or cut the stream."""


def say(line):
    os.write(1, (line + "\n").encode())


def fail(message):
    os.write(2, f"sparkctl copy: {message}\n".encode())
    os._exit(1)


def guarded(function, *args):
    try:
        return function(*args)
    except Broken as exc:
        fail(str(exc))
    except OSError as exc:  # a reset or a full disk: say it in one line, not a traceback
        fail(f"{type(exc).__name__}: {exc}")


def background(target, *args):
    threading.Thread(target=guarded, args=(target, *args), daemon=True).start()


def heartbeat():
    while True:
        say(f"progress={moved[0]}")
        time.sleep(0.5)


def watch_stdin():
    # The orchestrator closes our stdin to stop us (Ctrl-C, a failed peer): stop at once.
    while os.read(0, 1 << 16):
        pass
    os._exit(3)


def exact(conn, size, peer):
    data = bytearray(size)
    view, got = memoryview(data), 0
    while got < size:
        count = receive_into(conn, view[got:], peer)
        got += count
    return bytes(data)


def receive_into(conn, view, peer):
    try:
        count = conn.recv_into(view)
    except TimeoutError:
        raise Broken(f"no data from {peer} for {STALL:g} s") from None
    except OSError as exc:
        raise Broken(f"receiving from {peer} failed: {exc}") from None
    if not count:
        raise Broken(f"the stream from {peer} was cut before its end")
    return count


def read_json(reader, peer):
    try:
        line = reader.readline()
    except TimeoutError:
        raise Broken(f"no answer from {peer} for {STALL:g} s") from None
    except OSError as exc:
        raise Broken(f"{peer} closed the connection ({exc.strerror})") from None
    if not line:
        raise Broken(f"{peer} closed the connection")
    return json.loads(line)


def send_json(conn, data):
    conn.sendall(json.dumps(data).encode() + b"\n")


def accept(server, token, role):
    while True:
        try:
            conn, peer = server.accept()
        except TimeoutError:
            fail(f"no sender connected within {server.gettimeout():g} s")
        conn.settimeout(STALL)
        try:
            said = exact(conn, len(token) + len(role) + 2, peer[0])
        except Broken:
            said = b""
        if hmac.compare_digest(said, f"{token} {role}\n".encode()):
            return conn, peer[0]
        conn.close()


def connect(ip, port, token, role):
    try:
        conn = socket.create_connection((ip, port), timeout=STALL)
    except OSError as exc:
        fail(f"cannot reach {ip} port {port}: {exc}")
    conn.settimeout(STALL)
    conn.sendall(f"{token} {role}\n".encode())
    return conn


def expected_sha256(blob, entry):
    return blob if SHA256.fullmatch(blob) else (entry[2] if len(entry) > 2 else None)


def receive_blobs(conn, peer, blobs, wanted, errors):
    buffer = memoryview(bytearray(BUFFER))
    while True:
        length, count = HEADER.unpack(exact(conn, HEADER.size, peer))
        if not length:
            return
        name = exact(conn, length, peer).decode()
        if name not in wanted or wanted[name][0] != count:
            fail(f"{peer} sent {name} ({count} bytes), which was not asked for")
        part = os.path.join(blobs, name + PART)
        digest = hashlib.sha256()
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        if count:  # one contiguous extent up front: parallel streams do not interleave on disk
            os.posix_fallocate(fd, 0, count)
        left = count
        while left:
            got = receive_into(conn, buffer[:min(left, BUFFER)], peer)
            chunk = buffer[:got]
            digest.update(chunk)
            while chunk:
                chunk = chunk[os.write(fd, chunk):]
            left -= got
            moved[0] += got
        os.close(fd)
        want = wanted[name][1]
        if want and digest.hexdigest() != want:
            os.unlink(part)
            errors.append(f"{name}: sha256 {digest.hexdigest()[:16]} is not {want[:16]}")
            continue
        os.replace(part, os.path.join(blobs, name))


def lacking(root, manifest):
    blobs = os.path.join(root, "blobs")
    wanted = {entry[0]: (entry[1], expected_sha256(entry[0], entry)) for entry in manifest["files"].values()}
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


def receive_files(server, token, control, peer, root, offer):
    os.makedirs(os.path.join(root, "blobs"), exist_ok=True)
    wanted = lacking(root, offer["manifest"])
    send_json(control, {"want": sorted(wanted, key=lambda b: -wanted[b][0])})
    errors, threads = [], []
    for _ in range(min(offer["streams"], len(wanted))):
        conn, _peer = accept(server, token, "data")
        threads.append(threading.Thread(target=guarded, args=(receive_blobs, conn, peer, os.path.join(root, "blobs"),
                                                               wanted, errors)))
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


def send_blobs(conn, peer, blobs, jobs, limit):
    while True:
        try:
            name = jobs.get_nowait()
        except queue.Empty:
            conn.sendall(HEADER.pack(0, 0))
            return
        size = os.path.getsize(os.path.join(blobs, name))
        conn.sendall(HEADER.pack(len(name.encode()), size) + name.encode())
        # A capped rate sends a tenth of a second's worth at a time, so the receiver never waits long.
        chunk = max(1 << 16, int(limit / 10)) if limit else SENDFILE_CHUNK
        with open(os.path.join(blobs, name), "rb") as source:
            offset = 0
            while offset < size:
                try:
                    sent = conn.sendfile(source, offset, min(chunk, size - offset))
                except TimeoutError:
                    raise Broken(f"{peer} took no data for {STALL:g} s") from None
                except OSError as exc:
                    raise Broken(f"sending to {peer} failed: {exc}") from None
                offset += sent
                moved[0] += sent
                throttle(limit)


def throttle(limit):
    if limit:
        time.sleep(max(0.0, moved[0] / limit - (time.monotonic() - STARTED)))


def revision_commit(root, revision):
    if re.fullmatch("[0-9a-f]{40}", revision):
        return revision
    try:
        with open(os.path.join(root, "refs", revision)) as ref:
            return ref.read().strip()
    except OSError:
        fail(f"{root} has no ref {revision}")


def send_files(ip, port, token, root, revision, streams, limit):
    commit = revision_commit(root, revision)
    try:
        with open(os.path.join(root, ".sparkctl", commit + ".json")) as source:
            manifest = json.load(source)
    except (OSError, ValueError):
        fail(f"{root} holds no finished copy of {commit} (no manifest)")
    refs = {} if commit == revision else {f"refs/{revision}": commit}
    control = connect(ip, port, token, "control")
    send_json(control, {"manifest": manifest, "refs": refs, "streams": streams})
    reader = control.makefile("rb")
    jobs = queue.SimpleQueue()
    for blob in read_json(reader, ip)["want"]:
        jobs.put(blob)
    threads = [threading.Thread(target=guarded, args=(send_blobs, connect(ip, port, token, "data"), ip,
                                                      os.path.join(root, "blobs"), jobs, limit))
               for _ in range(min(streams, jobs.qsize()))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return reader


def send_pipe(ip, port, token, command):
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    control = connect(ip, port, token, "control")
    chunks = queue.Queue(maxsize=4)
    background(pump, process.stdout.fileno(), chunks)
    while True:
        try:
            chunk = chunks.get(timeout=1)
        except queue.Empty:
            chunk = b""
        if chunk is None:
            break
        try:
            control.sendall(FRAME.pack(len(chunk) or KEEPALIVE) + chunk)
        except TimeoutError:
            process.kill()
            raise Broken(f"{ip} took no data for {STALL:g} s") from None
        moved[0] += len(chunk)
    if process.wait():
        fail(f"{command[0]} {command[1]} exited {process.returncode}")
    control.sendall(FRAME.pack(0))
    return control.makefile("rb")


def pump(fd, chunks):
    while data := os.read(fd, BUFFER):
        chunks.put(data)
    chunks.put(None)


def send(ip, mode, rest):
    port, token = int(os.environ["SPARKCTL_COPY_PORT"]), os.environ["SPARKCTL_COPY_TOKEN"]
    started = time.monotonic()
    if mode == "files":
        reader = send_files(ip, port, token, rest[0], rest[1], int(rest[2]), float(rest[3]) * (1 << 20))
    else:
        reader = send_pipe(ip, port, token, rest)
    verdict = read_json(reader, ip)
    say(f"sent_bytes={moved[0]}\nsent_seconds={time.monotonic() - started:.3f}")
    if verdict["errors"]:
        fail("the receiver refused: " + "; ".join(verdict["errors"][:5]))


def main(role, ip, mode, *rest):
    background(watch_stdin)
    if role == "send":
        say("started=yes")
        background(heartbeat)
    guarded(receive if role == "receive" else send, ip, mode, list(rest))
    os._exit(0)


if __name__ == "__main__":
    main(*sys.argv[1:])
