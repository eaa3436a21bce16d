"""Rows describing the node-side jobs (page-cache guard, watchdog) from the facts their status script prints."""

from __future__ import annotations

import time

from orchestrator.report.units import human_bytes


def job_rows(facts: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """One row per node and installed job: scheduler, settings, last run, last action."""
    rows = []
    for node, fact in facts.items():
        scheduler = fact.get("scheduler", "")
        if fact.get("scheduler_active") == "no":
            scheduler += " (entry missing: run 'on' again)"
        now = _int(fact.get("now")) or int(time.time())
        for job in ("guard", "watchdog"):
            if f"{job}_conf" not in fact:
                continue
            rows.append({"node": node, "job": job, "scheduler": scheduler,
                         "settings": _settings(job, _conf(fact[f"{job}_conf"])),
                         "last run": _ago(_int(fact.get(f"{job}_last_run")), now),
                         "last action": _action(job, fact, now)})
    return rows


def _conf(text: str) -> dict[str, int]:
    pairs = (word.split("=", 1) for word in text.split() if "=" in word)
    return {key: int(value) for key, value in pairs if value.isdigit()}


def _settings(job: str, conf: dict[str, int]) -> str:
    if job == "guard":
        every = f"every {_duration(conf['every'])}" if conf.get("every") else "no schedule"
        below = f", below {human_bytes(conf['below_kb'] * 1024)}" if conf.get("below_kb") else ""
        return f"{every}{below}, check {_duration(conf.get('check', 60))}"
    return (f"restart after {conf.get('after')} stalled checks, at most {conf.get('budget')}/h, "
            f"check {_duration(conf.get('check', 60))}, token deadline {_duration(conf.get('deadline', 20))}")


def _action(job: str, fact: dict[str, str], now: int) -> str:
    if job == "guard":
        return _drop(fact.get("guard_last_drop", ""), now) or _last_line(fact.get("guard_last", ""), now)
    restarts = fact.get("watchdog_restarts_hour", "0")
    last = _last_line(fact.get("watchdog_last", ""), now)
    return f"{restarts} restart(s) in the last hour" + (f"; last: {last}" if last else "")


def _drop(line: str, now: int) -> str:
    """'dropped 2m ago (below): MemAvailable 3.0 -> 9.0 GiB, freed 6.0 GiB'."""
    words = _words(line)
    if "before_kb" not in words or "after_kb" not in words:
        return ""
    before, after = int(words["before_kb"]), int(words["after_kb"])
    return (f"dropped {_ago(_int(line.split()[0]), now)} ({words.get('reason', '?')}): MemAvailable "
            f"{human_bytes(before * 1024)} -> {human_bytes(after * 1024)}, freed {human_bytes(max(after - before, 0) * 1024)}")


def _last_line(line: str, now: int) -> str:
    parts = line.split(maxsplit=2)
    if len(parts) < 2:
        return ""
    return f"{parts[1]} {_ago(_int(parts[0]), now)}" + (f" ({parts[2]})" if len(parts) > 2 else "")


def _words(line: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


def _ago(epoch: int | None, now: int) -> str:
    if not epoch:
        return "never"
    return f"{_duration(max(now - epoch, 0))} ago"


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0 or seconds >= 10 * size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None
