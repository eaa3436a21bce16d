"""Settings of the node-side jobs (page-cache guard, watchdog): durations and sizes as people write them."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(k|m|g|t)(i?b)?\s*$", re.IGNORECASE)
_KIB = {"k": 1, "m": 1024, "g": 1024**2, "t": 1024**3}
# Cron's finest step is a minute; a node-side pass more often than every 2 s would only load the node.
MIN_CHECK_S = 2


def seconds(text: str) -> int:
    """'30m' -> 1800; plain numbers are seconds."""
    match = _DURATION.match(str(text))
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a duration: write e.g. 30s, 5m, 2h or 1d")
    return int(match.group(1)) * _SECONDS[(match.group(2) or "s").lower()]


def kib(text: str) -> int:
    """'8GiB' -> 8388608 (KiB, the unit of /proc/meminfo); GB is read as GiB, as free(1) does."""
    match = _SIZE.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a size: write e.g. 8GiB or 512MiB")
    return int(float(match.group(1)) * _KIB[match.group(2).lower()])


def _duration(text: str) -> str:
    if seconds(text) < MIN_CHECK_S:
        raise ValueError(f"'{text}' is too short: at least {MIN_CHECK_S}s")
    return text


def _size(text: str) -> str:
    kib(text)
    return text


Duration = Annotated[str, AfterValidator(_duration)]
Size = Annotated[str, AfterValidator(_size)]


class Guard(BaseModel):
    """A page-cache guard on every node of the deployment: drop every `every`, and whenever MemAvailable < `below`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Duration | None = "30m"
    below: Size | None = None
    check: Duration = "1m"

    @property
    def every_s(self) -> int:
        """The schedule in seconds (0: no scheduled drop)."""
        return seconds(self.every) if self.every else 0

    @property
    def below_kib(self) -> int:
        """The MemAvailable threshold in KiB (0: none)."""
        return kib(self.below) if self.below else 0

    @property
    def check_s(self) -> int:
        """How often the node looks at MemAvailable, in seconds."""
        return seconds(self.check)


class Watchdog(BaseModel):
    """Restart a serving container whose /health answers but that gives no token `after` checks in a row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: int = 3
    budget: int = 3
    check: Duration = "1m"
    deadline: Duration = "20s"

    @property
    def check_s(self) -> int:
        """How often the node probes, in seconds."""
        return seconds(self.check)

    @property
    def deadline_s(self) -> int:
        """How long one probe waits for its token, in seconds."""
        return seconds(self.deadline)
