"""NCCL's transport between Sparks: RoCE when the container sees the RDMA devices NCCL_IB_HCA names, else TCP.

On a real Spark a container without `/dev/infiniband` (no --device or --privileged) makes NCCL fall back to
sockets without an error; only its INFO lines and a much slower decode show it. The stand-in does the same.
"""

from __future__ import annotations

import argparse
import glob
import os

from standin_dist import env_float, world_size
from standin_log import log
from standin_speed import decode_speedup


def transport(args: argparse.Namespace) -> str:
    """`IB`, `Socket`, or '' for an engine on one Spark."""
    if world_size(args) <= 1 and (args.nnodes or 1) <= 1:
        return ""
    hcas = [h for h in os.environ.get("NCCL_IB_HCA", "").split(",") if h]
    if os.environ.get("NCCL_IB_DISABLE") == "1" or not hcas or not glob.glob("/dev/infiniband/uverbs*"):
        return "Socket"
    return "IB"


def decode_tps(args: argparse.Namespace) -> float:
    """The simulated decode speed: one Spark's, scaled by TP x PP across Sparks over RoCE or TCP sockets."""
    speed = env_float("VLLM_STANDIN_DECODE_TPS", 50)
    kind = transport(args)
    if kind == "IB":
        devices = ", ".join(f"[{i}]{h}:1/RoCE" for i, h in enumerate(os.environ["NCCL_IB_HCA"].split(",")))
        log("pynccl.py:70", f"NCCL INFO NET/IB : Using {devices} ; OOB {os.environ.get('NCCL_SOCKET_IFNAME', 'eth0')}")
    elif kind == "Socket":
        log("pynccl.py:70", f"NCCL INFO NET/Socket : Using [0]{os.environ.get('NCCL_SOCKET_IFNAME', 'eth0')}")
    return speed * decode_speedup(args.tensor_parallel_size, args.pipeline_parallel_size, kind)
