"""Read a `vllm serve MODEL ...` word list into native recipe args, the way vLLM's own parser reads it.

Facts from vLLM's FlexibleArgumentParser (0.33): in `--name`, underscores before the first '.' become dashes;
`-O3`, `-O=3` and `-O 3` mean `--optimization-level 3`; a dotted flag (`--speculative-config.method ngram`,
`-cc.mode 3`) sets one key of that flag's JSON value, the value parsed as JSON, else as a human-readable
integer (1k, 2M), else kept as text; `key+` appends comma-separated items to a list; dotted keys of one flag
merge into a single JSON object. Short aliases are listed in SHORT_FLAGS.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

SHORT_FLAGS = {
    "-q": "quantization", "-tp": "tensor-parallel-size", "-pp": "pipeline-parallel-size",
    "-dp": "data-parallel-size", "-dcp": "decode-context-parallel-size", "-pcp": "prefill-context-parallel-size",
    "-dpn": "data-parallel-rank", "-dpr": "data-parallel-start-rank", "-dpl": "data-parallel-size-local",
    "-dpa": "data-parallel-address", "-dpp": "data-parallel-rpc-port", "-dpb": "data-parallel-backend",
    "-dph": "data-parallel-hybrid-lb", "-dpe": "data-parallel-external-lb",
    "-dpm": "data-parallel-multi-port-external-lb", "-ep": "enable-expert-parallel", "-sc": "speculative-config",
    "-dc": "diffusion-config", "-cc": "compilation-config", "-ac": "attention-config", "-asc": "api-server-count",
    "-n": "nnodes", "-r": "node-rank", "-O": "optimization-level",
}
# Per-node rendezvous flags: the launcher (eugr's, or sparkctl) adds them for each node.
LAUNCHER_FLAGS = ("nnodes", "node-rank", "master-addr", "master-port", "headless", "data-parallel-address",
                  "data-parallel-rank", "data-parallel-start-rank", "data-parallel-rpc-port", "data-parallel-size-local")
INT_FLAGS = ("tensor-parallel-size", "pipeline-parallel-size", "data-parallel-size", "max-model-len", "max-num-seqs",
             "max-num-batched-tokens")
FLOAT_FLAGS = ("gpu-memory-utilization",)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_HUMAN_INT = re.compile(r"^(\d+(?:\.\d+)?)([kKmMgGtT])$")


class ServeSyntax(ValueError):
    """The words are not a `vllm serve` line sparkctl can reproduce; the message says which flag and why."""

    def __init__(self, flag: str, reason: str):
        super().__init__(reason)
        self.flag = flag


@dataclass
class ServeLine:
    """A parsed `vllm serve` line: the model and each flag's value (True for a bare flag)."""

    model: str
    flags: dict[str, Any] = field(default_factory=dict)
    spelled: dict[str, str] = field(default_factory=dict)


def is_flag(word: str) -> bool:
    """Whether a word is an option (negative numbers are values)."""
    return word.startswith("-") and len(word) > 1 and not _NUMBER.match(word)


def human_int(text: str) -> int:
    """vLLM's human-readable integer: 1k = 1000, 1K = 1024, 25.6k = 25600."""
    match = _HUMAN_INT.match(text.strip())
    if not match:
        return int(text)
    number, suffix = match.groups()
    if suffix.islower():
        return int(float(number) * 10 ** (3 * "kmgt".index(suffix) + 3))
    return int(number) * 2 ** (10 * "KMGT".index(suffix) + 10)


def parse_serve(words: list[str]) -> ServeLine:
    """The model and flags of `vllm serve MODEL [flags]` (or `--model MODEL`)."""
    if words[:2] != ["vllm", "serve"]:
        shown = " ".join(words[:2]) or "(nothing)"
        raise ServeSyntax("", f"expected the command to start with 'vllm serve', found '{shown}'")
    rest = words[2:]
    model = rest.pop(0) if rest and not is_flag(rest[0]) else None
    line = ServeLine(model or "")
    dotted: dict[str, dict[str, Any]] = {}
    for spelled, name, values in _groups(rest):
        if "." in name:
            _add_dotted(dotted, spelled, name, values)
        else:
            _add_flag(line, spelled, name, values)
    for name, value in dotted.items():
        if name in line.flags:
            raise ServeSyntax(name, f"--{name} is given both whole and as dotted keys; vLLM keeps only the dotted "
                                    "keys then: write one JSON value")
        line.flags[name] = value
        line.spelled[name] = f"--{name}.*"
    return _take_model(line)


def _take_model(line: ServeLine) -> ServeLine:
    named = line.flags.pop("model", None)
    if named is not None and line.model:
        raise ServeSyntax("model", "the model is given both after 'vllm serve' and as --model")
    if named is not None:
        if not isinstance(named, str):
            raise ServeSyntax("model", "--model needs exactly one value")
        line.model = named
    if not line.model:
        raise ServeSyntax("", "no model: write 'vllm serve MODEL ...'")
    return line


def _groups(words: list[str]):
    """(as spelled, canonical name, values) for each flag, values being the words up to the next flag."""
    index = 0
    while index < len(words):
        word = words[index]
        if not is_flag(word):
            raise ServeSyntax("", f"'{word}' is not an option and follows no option that takes it")
        name, inline = canonical(word)
        index += 1
        values = [] if inline is None else [inline]
        while inline is None and index < len(words) and not is_flag(words[index]):
            values.append(words[index])
            index += 1
        yield word, name, values


def canonical(word: str) -> tuple[str, str | None]:
    """(vLLM's canonical flag name without dashes, inline '=value' or None) for one option word."""
    if word.startswith("-O") and not word.startswith("--") and word != "-O":
        return "optimization-level", word[3:] if word[2:3] == "=" else word[2:]
    key, sep, value = word.partition("=")
    inline = value if sep else None
    if key.startswith("--"):
        base, dot, tail = key[2:].partition(".")
        return base.replace("_", "-") + dot + tail, inline
    base, dot, tail = key.partition(".")
    if base not in SHORT_FLAGS:
        raise ServeSyntax(key, f"'{base}' is not a vLLM short option sparkctl knows; write the long --name form")
    return SHORT_FLAGS[base] + dot + tail, inline


def _add_flag(line: ServeLine, spelled: str, name: str, values: list[str]) -> None:
    if name in line.flags:
        raise ServeSyntax(name, f"--{name} is given more than once; vLLM may keep the last or all of them "
                                "depending on the flag: write it once")
    line.spelled[name] = spelled
    if not values:
        line.flags[name] = True
    elif len(values) == 1:
        line.flags[name] = scalar(name, values[0])
    else:
        line.flags[name] = [scalar(name, value) for value in values]


def scalar(name: str, text: str) -> Any:
    """A flag value as YAML would hold it: numbers vLLM parses as numbers, other text unchanged."""
    try:
        if name in INT_FLAGS:
            return human_int(text)
        if name in FLOAT_FLAGS:
            return float(text)
    except ValueError:
        return text
    if re.fullmatch(r"-?\d+", text) and str(int(text)) == text:
        return int(text)
    if _NUMBER.match(text) and repr(float(text)) == text:
        return float(text)
    return text


def _add_dotted(dotted: dict[str, dict[str, Any]], spelled: str, name: str, values: list[str]) -> None:
    if len(values) != 1:
        raise ServeSyntax(name, f"dotted option '{spelled}' needs exactly one value, got {len(values)}")
    base, *keys = name.split(".")
    raw = values[0]
    if keys[-1].endswith("+"):
        keys[-1] = keys[-1][:-1]
        raw = json.dumps(raw.split(","))
    nested: Any = dotted_value(raw)
    for key in reversed(keys):
        nested = {key: nested}
    _merge(dotted.setdefault(base, {}), nested)


def dotted_value(raw: str) -> Any:
    """A dotted option's value: JSON, else a human-readable integer, else the text."""
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return human_int(raw)
    except ValueError:
        return raw


def _merge(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, list) and isinstance(target.get(key), list):
            target[key] = target[key] + value
        else:
            target[key] = value
