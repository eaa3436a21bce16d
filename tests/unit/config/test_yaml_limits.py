"""Hostile YAML: every limit of the loader is one ConfigError naming the file and line, never a crash."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator.config import yamlload
from orchestrator.config.settings import parse_sets
from orchestrator.config.yamlsource import read_yaml
from orchestrator.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def _laughs(levels: int = 9) -> str:
    text = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for level in range(1, levels):
        text += f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]\n"
    return text


def _refusal(tmp_path: Path, text: str | bytes) -> str:
    path = tmp_path / "hostile.yaml"
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    with pytest.raises(ConfigError) as caught:
        read_yaml(path)
    message = str(caught.value)
    assert message.startswith(f"{path}"), message
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("text", "fragment"), [
    ("a: &a [*a]\n", ":1: alias *a refers to itself"),
    ("a: &a {b: *a}\n", ":1: alias *a refers to itself"),
    (_laughs(), ":6: expands to more than"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", ":1: nested deeper than 32 levels"),
    ("a: " + "[" * 50_000 + "\n", ":1: nested deeper than 32 levels"),
    ("a: &a [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]\nb: [[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]\n",
     ":2: aliases nest it deeper than 32 levels"),
    ("a: 1\nb: 2\na: 3\n", ":3: duplicate key 'a'"),
    ("1: x\n", ":1: a key must be text"),
    ("a: {? [1]: x}\n", ":1: a key must be text"),
    ("a: !!binary aGk=\n", ":1: the !!binary tag is not supported"),
    ("a: !!set {x}\n", ":1: the !!set tag is not supported"),
    ("a: !!timestamp 2001-12-14\n", ":1: the !!timestamp tag is not supported"),
    ("a: !!int abc\n", ":1: cannot read 'abc' as int"),
    ("a: !!bool maybe\n", ":1: cannot read 'maybe' as bool"),
    ("a: " + "9" * 5000 + "\n", "as int"),
    ("a: !!python/object:os.system x\n", "malformed YAML"),
    ("a: 1\n---\nb: 2\n", "malformed YAML"),
    ("a:\n\tb: 1\n", ":2: malformed YAML"),
    ("a: *nowhere\n", ":1: malformed YAML: found undefined alias"),
    (b"a: 1\nb: \xff\xfe\n", ":2: not UTF-8 text (byte 0xff)"),
    ("a: 1\nb: x\x00y\n", ":2: malformed YAML: character \\x00 is not allowed"),
    ("- a\n- b\n", ":1: (top level): expected a mapping"),
])
def test_hostile_yaml_is_one_clear_error(tmp_path, text, fragment):
    assert fragment in _refusal(tmp_path, text)


def test_huge_file_is_refused_before_parsing(tmp_path):
    started = time.perf_counter()
    message = _refusal(tmp_path, "a: " + "x" * 10_000_000 + "\n")
    assert "larger than 1 MiB" in message
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("word", sorted(yamlload.YAML11_BOOLEANS))
def test_yaml11_boolean_values_are_refused_with_the_fix(tmp_path, word):
    message = _refusal(tmp_path, f"args:\n  enforce-eager: {word}\n")
    assert f":2: args.enforce-eager: '{word}' is a boolean in YAML 1.1" in message
    assert "write true or false, or quote it" in message


def test_quoted_yaml11_words_and_core_booleans_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("a: 'yes'\nb: \"off\"\nc: true\nd: FALSE\non: 1\ne: 2024-01-01\n")
    assert read_yaml(path).data == {"a": "yes", "b": "off", "c": True, "d": False, "on": 1, "e": "2024-01-01"}


def test_anchors_and_merge_keys_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &base {x: 1, y: 2}\nmine:\n  <<: *base\n  y: 3\nlist: [*base, *base]\n")
    data = read_yaml(path).data
    assert data["mine"] == {"x": 1, "y": 3}
    assert data["list"] == [{"x": 1, "y": 2}] * 2


def test_lines_are_recorded(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("a:\n  b:\n    - 1\n    - c: 2\n")
    doc = read_yaml(path)
    assert doc.line_of(("a", "b", 1, "c")) == 4
    assert doc.line_of(("a", "missing")) == 1


def test_error_quotes_long_keys_cut_short(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\n")
    message = str(read_yaml(path).error(("k" * 5000,), "unknown key"))
    assert len(message) < len(str(path)) + 120


@pytest.mark.parametrize(("raw", "value"), [
    ("yes", "yes"), ("off", "off"), ("On", "On"), ("NO", "NO"),
    ("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False),
    ("0.8", 0.8), ("8192", 8192), ("2024-01-01", "2024-01-01"), ("[1, on]", [1, "on"]),
])
def test_set_values_are_yaml_1_2(raw, value):
    assert parse_sets((f"x={raw}",)) == {"x": value}


@pytest.mark.parametrize(("raw", "fragment"), [
    ("&a [*a]", "refers to itself"),
    ("{a: 1, a: 2}", "duplicate key"),
    ("!!binary aGk=", "!!binary"),
    ("9" * 5000, "as int"),
    ("x" * 9000, "the limit is 8,192"),
])
def test_hostile_set_values(raw, fragment):
    with pytest.raises(ConfigError, match="^--set x: ") as caught:
        parse_sets((f"x={raw}",))
    assert fragment in str(caught.value)


def test_catalog_loads_no_slower_than_plain_safe_load():
    """The bounded loader parses once where the old reader parsed twice (compose, then load)."""
    import yaml

    files = sorted((REPO / "recipes").glob("*.yaml"))
    texts = [f.read_text() for f in files]

    def best(load) -> float:
        load(texts[0])
        times = []
        for _ in range(5):
            started = time.perf_counter()
            for text in texts:
                load(text)
            times.append(time.perf_counter() - started)
        return min(times)

    bounded = best(yamlload.load)
    twice = best(lambda text: (yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text)))
    assert bounded < twice, (bounded, twice)
