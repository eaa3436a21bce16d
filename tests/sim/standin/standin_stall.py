"""The stall fault: HTTP stays up, /health answers, but no completion ever yields a token.

Users of real vLLM report exactly this ("HTTP alive, zero tokens forever"); a restart cures it. Tests switch it
on per node while the server runs by creating STALL_FILE inside the container; the server clears it when it starts.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

STALL_FILE = Path(os.environ.get("VLLM_STANDIN_STALL_FILE") or "/tmp/vllm-standin-stall")
# A held request gives up after this long, so no handler thread sleeps forever.
HOLD_CAP_S = 900.0


def clear() -> None:
    """Start healthy: a restarted server no longer stalls."""
    STALL_FILE.unlink(missing_ok=True)


def hold() -> None:
    """While the stall is on, keep the request waiting without an answer."""
    deadline = time.monotonic() + HOLD_CAP_S
    while STALL_FILE.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
