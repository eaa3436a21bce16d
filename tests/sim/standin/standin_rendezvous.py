"""Multi-node launch without Ray (`--nnodes`, `--node-rank`, `--master-addr`, `--master-port`).

The head (rank 0) waits for every other rank to connect to master-addr:master-port, like torch's TCP store;
a lost connection on either side kills the engine, as a failed collective would.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

from standin_dist import env_float
from standin_log import fail, log

DEFAULT_MASTER_PORT = 29501
RETRY_SECONDS = 0.5


def rendezvous_timeout() -> float:
    """How long ranks wait for each other."""
    return env_float("VLLM_STANDIN_RENDEZVOUS_TIMEOUT", 600)


def join_ranks(args: argparse.Namespace) -> None:
    """Connect this node's rank to the others when the launch spans several nodes."""
    if (args.nnodes or 1) <= 1:
        return
    if (args.node_rank or 0) == 0:
        wait_for_workers(args)
    else:
        connect_to_head(args)


def wait_for_workers(args: argparse.Namespace) -> None:
    """Head: accept one connection per other rank, bounded, then watch them."""
    port = args.master_port or DEFAULT_MASTER_PORT
    listener = socket.create_server(("0.0.0.0", port), reuse_port=False)
    listener.settimeout(RETRY_SECONDS)
    deadline, peers = time.monotonic() + rendezvous_timeout(), []
    log("parallel_state.py:1134", f"waiting for {args.nnodes - 1} other node(s) on port {port}")
    while len(peers) < args.nnodes - 1:
        if time.monotonic() > deadline:
            fail(
                "parallel_state.py:1140",
                "torch.distributed.DistNetworkError",
                f"timed out after {rendezvous_timeout():.0f} s waiting for {args.nnodes - 1 - len(peers)} "
                f"node(s) to join at port {port}",
                ["distributed/parallel_state.py:init_distributed_environment"],
            )
        try:
            peer, address = listener.accept()
        except TimeoutError:
            continue
        peers.append(peer)
        log("parallel_state.py:1150", f"node joined from {address[0]}")
    listener.close()
    for peer in peers:
        threading.Thread(target=watch_peer, args=(peer, "a worker node"), daemon=True).start()


def connect_to_head(args: argparse.Namespace) -> None:
    """Worker: connect to the head, retrying until the deadline, then watch the link."""
    address = (args.master_addr or "127.0.0.1", args.master_port or DEFAULT_MASTER_PORT)
    deadline = time.monotonic() + rendezvous_timeout()
    while True:
        try:
            peer = socket.create_connection(address, timeout=RETRY_SECONDS * 4)
            break
        except OSError:
            if time.monotonic() > deadline:
                fail(
                    "parallel_state.py:1140",
                    "torch.distributed.DistNetworkError",
                    f"could not reach the head at {address[0]}:{address[1]} within {rendezvous_timeout():.0f} s",
                    ["distributed/parallel_state.py:init_distributed_environment"],
                )
            time.sleep(RETRY_SECONDS)
    peer.sendall(f"rank {args.node_rank}\n".encode())
    log("parallel_state.py:1150", f"joined the head at {address[0]}:{address[1]} as node rank {args.node_rank}")
    threading.Thread(target=watch_peer, args=(peer, "the head node"), daemon=True).start()


def watch_peer(peer: socket.socket, who: str) -> None:
    """Block on the link; when it closes, die like a failed collective."""
    peer.settimeout(None)
    try:
        while peer.recv(1024):
            pass
    except OSError:
        pass
    fail(
        "shm_broadcast.py:466",
        "RuntimeError",
        f"lost the connection to {who}; NCCL communicator aborted",
        ["distributed/device_communicators/shm_broadcast.py:acquire_read"],
    )
