"""A foreign benchmark section's llama-benchy words, checked against llama-benchy 0.4.0's own flags.

The flag list is read from llama-benchy 0.4.0's argparse (config.py). A recipe can carry only the workload
lists and runs (`benchmark.args` pp, tg, depth, concurrency, runs); sparkctl sets the endpoint, model,
tokenizer, output and progress flags itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.config.formats.base import refuse

LISTS = ("pp", "tg", "depth", "concurrency")
SINGLE = ("runs",)
OWNED = ("base-url", "api-key", "model", "served-model-name", "format", "save-result", "emit-progress")
ON_THE_BENCH_COMMAND = {
    "tokenizer": "sparkctl bench --tokenizer DIR",
    "book-url": "sparkctl bench --book-url URL",
    "skip-coherence": "sparkctl bench --skip-coherence",
    "post-run-cmd": "sparkctl bench --drop-caches",
}
NOT_CARRIED = ("exact-tg", "no-cache", "latency-mode", "no-warmup", "adapt-prompt", "no-adapt-prompt",
               "enable-prefix-caching", "save-total-throughput-timeseries", "save-all-throughput-timeseries",
               "exit-on-first-fail", "no-results-on-fail", "extra-body", "version")
VALID = (*LISTS, *SINGLE, *OWNED, *ON_THE_BENCH_COMMAND, *NOT_CARRIED)


def benchy_args(words: Any, path: str | Path, key: str) -> tuple[dict[str, Any], list[str]]:
    """Native benchmark.args and notes from a list of llama-benchy command-line words."""
    if not isinstance(words, list) or not all(isinstance(w, (str, int)) for w in words):
        raise refuse(path, key, f"expected a list of llama-benchy words, e.g. ['--pp', '512'], got {words!r}")
    args: dict[str, Any] = {}
    notes: list[str] = []
    for flag, values in _groups([str(w) for w in words], path, key):
        where = f"{key} --{flag}"
        if flag not in VALID:
            notes.append(f"warning: {where} is not a llama-benchy 0.4.0 flag and was left out (llama-benchy would "
                         f"refuse it); valid flags: {', '.join('--' + f for f in sorted(VALID))}")
        elif flag in LISTS or flag in SINGLE:
            args[flag] = _numbers(flag, values, path, where)
            notes.append(f"mapped: {where} {' '.join(values)} -> benchmark.args.{flag}: {args[flag]}")
        else:
            raise refuse(path, where, _why_not(flag))
    return args, notes


def _groups(words: list[str], path: str | Path, key: str):
    index = 0
    while index < len(words):
        word = words[index]
        if not word.startswith("--"):
            raise refuse(path, key, f"'{word}' is not a --flag and follows no flag that takes it")
        flag, sep, inline = word[2:].partition("=")
        values = [inline] if sep else []
        index += 1
        while not sep and index < len(words) and not words[index].startswith("--"):
            values.append(words[index])
            index += 1
        yield flag, values


def _numbers(flag: str, values: list[str], path: str | Path, where: str) -> list[int] | int:
    try:
        numbers = [int(value) for value in values]
    except ValueError:
        raise refuse(path, where, f"expected whole numbers, got {values!r}") from None
    if not numbers or (flag in SINGLE and len(numbers) != 1):
        raise refuse(path, where, "expected one number" if flag in SINGLE else "expected at least one number")
    if any(n < (0 if flag == "depth" else 1) for n in numbers):
        raise refuse(path, where, f"expected {'non-negative' if flag == 'depth' else 'positive'} numbers, got {numbers}")
    return numbers[0] if flag in SINGLE else numbers


def _why_not(flag: str) -> str:
    if flag in OWNED:
        return "sparkctl sets it itself when it runs llama-benchy; remove it"
    if flag in ON_THE_BENCH_COMMAND:
        return f"a sparkctl recipe does not carry it; use '{ON_THE_BENCH_COMMAND[flag]}'"
    return "a valid llama-benchy flag sparkctl does not pass; a recipe can set only " + \
        ", ".join("--" + f for f in (*LISTS, *SINGLE))
