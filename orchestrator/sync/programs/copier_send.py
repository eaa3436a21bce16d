"""The copier's sending end: sendfile over several streams, or a command's output; and main."""
import json
import os
import queue
import re
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
        STARTED,
        Broken,
        background,
        connect,
        fail,
        guarded,
        heartbeat,
        moved,
        read_json,
        say,
        send_json,
        watch_stdin,
    )
    from orchestrator.sync.programs.copier_receive import receive  # noqa: F401

SENDFILE_CHUNK = 64 << 20


def send_blobs(conn, peer, blobs, jobs, limit):
    while True:
        try:
            name, offset = jobs.get_nowait()
        except queue.Empty:
            conn.sendall(HEADER.pack(0, 0, 0))
            return
        size = os.path.getsize(os.path.join(blobs, name))
        conn.sendall(HEADER.pack(len(name.encode()), offset, size - offset) + name.encode())
        # A capped rate sends a tenth of a second's worth at a time, so the receiver never waits long.
        chunk = max(1 << 16, int(limit / 10)) if limit else SENDFILE_CHUNK
        with open(os.path.join(blobs, name), "rb") as source:
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
    while "want" not in (answer := read_json(reader, ip)):
        pass  # the receiver is re-hashing what an interrupted run left, and says so every second
    for blob, offset in answer["want"]:
        jobs.put((blob, offset))
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
