"""How fast an engine spread over several Sparks decodes, relative to the whole model on one Spark.

Decode on a Spark is bound by memory bandwidth: tensor parallel over t Sparks reads 1/t of the weights per
Spark per token, but every doubling of t adds an all-reduce round across the fabric to each token; pipeline
parallel splits the layers without making one stream faster, and each stage boundary adds a hop. Over TCP
sockets (no RDMA in the container) those rounds cost several times a Spark's own token time. The numbers put
TP=2 over RoCE at ~1.4x one Spark (what Spark pairs report for gpt-oss-120b) and TP=2 over sockets at ~0.3x.
No imports: the tests import this module as well.
"""

from __future__ import annotations

import math

ALLREDUCE_ROUND = {"IB": 0.21, "Socket": 2.5}
PIPELINE_HOP = {"IB": 0.05, "Socket": 0.6}


def decode_speedup(tensor_parallel: int, pipeline_parallel: int, transport: str) -> float:
    """Decode speed relative to one Spark; `transport` is 'IB', 'Socket', or '' for an engine on one Spark."""
    if not transport:
        return 1.0
    rounds = math.ceil(math.log2(tensor_parallel)) if tensor_parallel > 1 else 0
    per_token = 1 / tensor_parallel + rounds * ALLREDUCE_ROUND[transport] + (pipeline_parallel - 1) * PIPELINE_HOP[transport]
    return 1 / per_token
