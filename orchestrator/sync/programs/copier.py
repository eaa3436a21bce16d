"""sparkctl's node-to-node copier: `receive` runs on the target, `send` on the source (stdlib only).

files: the blobs of a Hugging Face repo that the target lacks travel over several TCP streams; the sender
uses sendfile and the receiver splices the socket into the file (the kernel moves the bytes; none pass through
Python); the receiver hashes each blob with sha256 as it lands, from memory, writes it under a temporary name and
renames it only when the hash matches the blob's name (LFS) or the manifest.
pipe: one command's output (docker save) streams into another (docker load), framed so a cut shows.
Both ends print progress twice a second (the orchestrator's heartbeat) and exit when stdin closes.
"""
import hmac
import json
import os
import socket
import struct
import threading
import time

STALL = 5.0
BUFFER = 4 << 20
HEADER = struct.Struct(">HQQ")  # blob name length (0 ends a stream), offset, byte count
FRAME = struct.Struct(">I")  # pipe mode: chunk length, 0 ends the stream
KEEPALIVE = 0xFFFFFFFF  # pipe mode: "still here" while the command prepares its output (docker save does)
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
    except (TimeoutError, BlockingIOError):  # BlockingIOError: SO_RCVTIMEO on a blocking socket
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


