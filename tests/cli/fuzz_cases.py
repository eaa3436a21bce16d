"""Seeded generators of malformed recipes and inventories: data-level and byte-level mutations of valid files."""

from __future__ import annotations

import copy
import functools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

RECIPE: dict[str, Any] = {
    "description": "fuzz base",
    "model": "org/model",
    "served_name": "served",
    "container": "vllm-node",
    "args": {"tensor-parallel-size": 1, "max-model-len": 8192, "gpu-memory-utilization": 0.5,
             "enable-auto-tool-choice": True, "tool-call-parser": "openai",
             "compilation-config": {"level": 3, "sizes": [1, 2]}},
    "env": {"VLLM_FLAG": "1", "OTHER": "text"},
    "mounts": {"models": "/srv/models:/models:ro"},
    "benchmark": {"framework": "llama-benchy", "args": {"pp": [512], "runs": 1}},
}
INVENTORY: dict[str, Any] = {
    "defaults": {"user": "root", "port": 22, "ssh_key": "~/.ssh/id", "api_port": 8000,
                 "mounts": {"extra": "/data:/data"}, "ulimits": {"nofile": 1024}},
    "nodes": [{"name": "a", "ip": "192.0.2.1", "fabric_ip": "198.51.100.1", "fabric_if": "eth1"},
              {"name": "b", "ip": "192.0.2.2", "fabric_ip": "198.51.100.2", "fabric_if": "eth1"}],
}

ODD_VALUES: list[Any] = [
    0, -1, -(2**63), 2**64, 10**30, 3.5, -0.0, float("nan"), float("inf"), float("-inf"), 1e308, True, False,
    None, "", " ", "x", "-rf", "../../etc/passwd", "a b", "é\u00e9\u4e2d", [], {}, [1, [2, [3]]], {"a": {"b": None}},
    [None], [{}], {"": 1},
]
CONTROL = ["\x00", "\x07", "\x1b[31m", "\n", "\r", "\t", "\x7f", "\x85", "\u2028", "\ufeff", "\ud800", "\x9b"]
YAML11 = ["yes", "no", "on", "off", "Yes", "OFF", "y", "n", "~", "null", "NaN", ".nan", "-.inf", "0x1F", "0o17",
          "1_000", "1:30", "2024-01-01", "1e3", "+12"]
TAGS = ["!!binary aGk=", "!!python/object:os.system x", "!custom x", "!!set {a}", "!!timestamp 2001-12-14",
        "!!int abc", "!!float x", "!!bool maybe", "!!omap [a: 1]", "!!str 5", "!!null x", "!!map [1]", "!!seq {}"]


@dataclass(frozen=True)
class Case:
    """One malformed file: which file it replaces, how it was made, and its bytes."""

    target: str
    topology: str
    kind: str
    content: bytes


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a nested structure."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


def _set(data: Any, path: tuple, value: Any) -> Any:
    """data with the value at path replaced (the whole document when path is empty)."""
    if not path:
        return value
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return data


def dump(data: Any) -> bytes:
    """YAML bytes of data, lone surrogates kept (they must be refused, not crash the writer)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8", "surrogatepass")


def _mappings(data: Any) -> list[tuple]:
    return [p for p in _paths(data) if isinstance(_get(data, p), dict)]


def _get(data: Any, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


def _type_swap(rng: random.Random, data: Any) -> Any:
    return _set(data, rng.choice(_paths(data)[1:]), copy.deepcopy(rng.choice(ODD_VALUES)))


def _huge_string(rng: random.Random, data: Any) -> Any:
    return _set(data, rng.choice(_paths(data)[1:]), rng.choice("x-/.é") * rng.choice([129, 300, 5_000, 9_000, 20_000]))


def _control(rng: random.Random, data: Any) -> Any:
    path = rng.choice(_paths(data)[1:])
    value = _get(data, path)
    text = value if isinstance(value, str) else "v"
    cut = rng.randrange(len(text) + 1)
    return _set(data, path, text[:cut] + rng.choice(CONTROL) + text[cut:])


def _deep(rng: random.Random, data: Any) -> Any:
    value: Any = "leaf"
    for _ in range(rng.choice([5, 20, 31, 40, 200])):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return _set(data, rng.choice(_paths(data)[1:]), value)


def _unknown_key(rng: random.Random, data: Any) -> Any:
    mapping = _get(data, rng.choice(_mappings(data)))
    key = rng.choice(["extra", "Model", "args ", "--flag", "BAD-ENV", "tensor_parallel_size", "1x", "k" * 300,
                      "source", "name", "nodes", "\u00e9t\u00e9", "a.b", "on"])
    mapping[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    return data


def _number(rng: random.Random, data: Any) -> Any:
    numeric = [p for p in _paths(data)[1:] if isinstance(_get(data, p), (int, float))] or _paths(data)[1:]
    return _set(data, rng.choice(numeric), rng.choice([-1, 0, -0.5, float("nan"), float("inf"), float("-inf"),
                                                       1e308, 10**20, 2**63, 65536, 1.5, True]))


def _delete(rng: random.Random, data: Any) -> Any:
    path = rng.choice(_paths(data)[1:])
    parent = _get(data, path[:-1])
    del parent[path[-1]]
    return data


def _top_level(rng: random.Random, data: Any) -> Any:
    return rng.choice([[data], "text", 5, None, [], [1, 2], True, {"nested": data}])


def _extends(rng: random.Random, data: Any) -> Any:
    if not isinstance(data, dict) or "nodes" in data:
        return _type_swap(rng, data)
    data["extends"] = rng.choice(["gpt-oss-20b", "fuzz", "missing-parent", "../fuzz", "x" * 200, 5, None, ["a"],
                                  "gpt-oss-20b.yaml", "-rf", "GPT-OSS-20B"])
    return data


DATA_MUTATIONS: dict[str, Callable[[random.Random, Any], Any]] = {
    "type-swap": _type_swap, "huge-string": _huge_string, "control-char": _control, "deep-nesting": _deep,
    "unknown-key": _unknown_key, "number": _number, "delete-key": _delete, "top-level": _top_level,
    "extends": _extends,
}


def _laughs(levels: int) -> str:
    text = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for level in range(1, levels):
        text += f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]\n"
    return text


def _lines(text: bytes) -> list[bytes]:
    return text.splitlines(keepends=True) or [b""]


def _text_mutation(rng: random.Random, base: bytes) -> tuple[str, bytes]:
    """One byte-level mutation of a valid file."""
    lines = _lines(base)
    at = rng.randrange(len(lines))
    kind = rng.choice(["alias", "laughs", "non-utf8", "empty", "duplicate-key", "tabs", "truncate", "byte-flip",
                       "yaml11", "tag", "bom-nul", "merge-key", "big-int", "anchor-reuse"])
    if kind == "alias":
        line = rng.choice([b"loop: &a [*a]\n", b"loop: &a {k: *a}\n", b"x: *undefined\n", b"args: &a {k: [*a]}\n"])
        lines.insert(at, line)
    elif kind == "laughs":
        lines.insert(0, _laughs(rng.choice([3, 6, 9, 12])).encode())
    elif kind == "non-utf8":
        cut = rng.randrange(len(base) + 1)
        return kind, base[:cut] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xfe\xff"]) + base[cut:]
    elif kind == "empty":
        return kind, rng.choice([b"", b"\n", b"---\n", b"~\n", b"# only a comment\n", b"...\n", b"   \n\t\n"])
    elif kind == "duplicate-key":
        lines.insert(at, lines[at])
    elif kind == "tabs":
        lines[at] = lines[at].replace(b"  ", b"\t", 1) if b"  " in lines[at] else b"\t" + lines[at]
    elif kind == "truncate":
        return kind, base[:rng.randrange(len(base) + 1)]
    elif kind == "byte-flip":
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.choice(b":-[]{}&*!|>'\"%@`#,?\t\n ")
        return kind, bytes(data)
    elif kind in ("yaml11", "tag", "big-int"):
        pool = {"yaml11": YAML11, "tag": TAGS, "big-int": ["9" * 5000, "-" + "9" * 400, "1" + "0" * 4400]}[kind]
        lines[at] = _replace_value(lines[at], rng.choice(pool).encode())
    elif kind == "bom-nul":
        return kind, rng.choice([b"\xef\xbb\xbf" + base, base.replace(b"\n", b"\x00\n", 1), b"\xff\xfe" + base])
    elif kind == "merge-key":
        lines.insert(at, rng.choice([b"<<: 5\n", b"<<: [1]\n", b"b: &b {x: 1}\n<<: *b\n", b"<<: {model: m}\n"]))
    elif kind == "anchor-reuse":
        lines.insert(at, b"p: &p 1\nq: &p 2\n")
    return kind, b"".join(lines)


def _replace_value(line: bytes, value: bytes) -> bytes:
    """The line with the text after its first ': ' (or '- ') replaced by value."""
    for sep in (b": ", b"- "):
        if sep in line:
            head = line.split(sep, 1)[0]
            return head + sep + value + b"\n"
    return line.rstrip(b"\n") + b": " + value + b"\n"


@functools.cache
def cases(seed: int, count: int) -> list[Case]:
    """count malformed files, half recipes and half inventories, reproducible from seed."""
    rng = random.Random(seed)
    made: list[Case] = []
    for index in range(count):
        target = "recipe" if index % 2 == 0 else "inventory"
        topology = "cluster" if index % 3 == 0 else "solo"
        base = copy.deepcopy(base_recipe(topology) if target == "recipe" else INVENTORY)
        if index % 97 == 0:
            made.append(Case(target, topology, "oversize", b"a: " + b"x" * (2 << 20) + b"\n"))
        elif rng.random() < 0.6:
            name = rng.choice(sorted(DATA_MUTATIONS))
            made.append(Case(target, topology, name, dump(DATA_MUTATIONS[name](rng, base))))
        else:
            made.append(Case(target, topology, *_text_mutation(rng, dump(base))))
    return made


@functools.cache
def base_file(target: str, topology: str) -> bytes:
    """The valid file a case of the other target runs with."""
    return dump(base_recipe(topology) if target == "recipe" else INVENTORY)


def base_recipe(topology: str) -> dict[str, Any]:
    """The valid recipe for a topology: one Spark solo, two as a cluster."""
    recipe = copy.deepcopy(RECIPE)
    if topology == "cluster":
        recipe["args"].update({"tensor-parallel-size": 2, "enforce-eager": True})
    return recipe


ARG_PIECES = ["", "x", "-", "=", "a" * 300, "a" * 5000, "/" * 5000, "../" * 50, "\x1b[2J",
              "on", "yes", "&a [*a]", "{a: 1, a: 2}", "!!binary aGk=", "9" * 5000, "[" * 100, "é", " ", "\t", "~",
              "gpt-oss-20b", "max-model-len", "tensor-parallel-size", "HF_TOKEN", ".nan", "-1", "1e400"]


def cli_args(seed: int, count: int) -> list[list[str]]:
    """count hostile command lines for `plan`: odd recipe names, --set, -e, --nodes and paths.

    No bare `--` (click prints that usage error itself) and no surrogates: sys.stderr escapes them, the
    test capture does not; surrogates reach sparkctl through files, which the file fuzz covers.
    """
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        piece = lambda: "".join(rng.choice(ARG_PIECES) for _ in range(rng.randint(1, 3)))  # noqa: E731
        recipe = rng.choice(["gpt-oss-20b", piece()])
        extra = rng.choice([["--set", f"{piece()}={piece()}"], ["--set", f"max-model-len={piece()}"],
                            ["-e", f"{piece()}={piece()}"], ["--nodes", piece()], []])
        front = rng.choice([["--recipes-dir", piece()], ["--templates-dir", "/nonexistent"], []])
        made.append([*front, "plan", rng.choice(["solo", "cluster"]), recipe, *extra])
    return made
