"""Hostile recipes, inventories and arguments through the CLI: each refusal is one line naming what to fix."""

from __future__ import annotations

import pytest
from cli_expect import assert_clean_failure

LAUGHS = 'model: m\ncontainer: c\nl0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" for n in range(1, 9))


def _plan_recipe(sparkctl, write, tmp_path, text: str, *args: str):
    path = write("mine/hostile.yaml", text)
    return path, sparkctl("--recipes-dir", str(tmp_path / "mine"), "plan", "solo", "hostile", *args)


@pytest.mark.parametrize(("text", "fragment"), [
    ("model: m\ncontainer: c\nargs: &a {x: [*a]}\n", ":3: alias *a refers to itself"),
    (LAUGHS, "expands to more than"),
    ("model: m\ncontainer: c\nargs: {x: " + "[" * 40 + "]" * 40 + "}\n", ":3: nested deeper than 32 levels"),
    ("model: m\ncontainer: c\nargs:\n  enforce-eager: yes\n",
     ":4: args.enforce-eager: 'yes' is a boolean in YAML 1.1 but text in YAML 1.2; write true or false"),
    ("model: m\ncontainer: c\nenv:\n  FEATURE: off\n", ":4: env.FEATURE: 'off' is a boolean in YAML 1.1"),
    ("model: m\ncontainer: c\nmodel: n\n", ":3: duplicate key 'model'"),
    ("model: m\ncontainer: c\ndescription: " + "x" * 10_000 + "\n", ":3: description: 10,000 characters"),
    ("model: m\ncontainer: \"c\\ud800\"\n", ":2: contains an unpaired UTF-16 surrogate"),
])
def test_hostile_recipe_is_refused(sparkctl, write, tmp_path, text, fragment):
    path, outcome = _plan_recipe(sparkctl, write, tmp_path, text)
    assert_clean_failure(outcome, 2, f"{path}", fragment)


def test_quoted_yaml11_word_is_text(sparkctl, write, tmp_path):
    text = "model: m\ncontainer: c\nargs:\n  tool-call-parser: 'on'\n"
    _, outcome = _plan_recipe(sparkctl, write, tmp_path, text)
    assert outcome.code == 0, outcome.err
    assert "--tool-call-parser on" in outcome.out


def test_ten_megabyte_recipe_is_refused_unread(sparkctl, write, tmp_path):
    path = tmp_path / "mine" / "hostile.yaml"
    path.parent.mkdir()
    path.write_bytes(b"model: m\ncontainer: c\ndescription: " + b"x" * 10_000_000 + b"\n")
    outcome = sparkctl("--recipes-dir", str(path.parent), "plan", "solo", "hostile")
    assert_clean_failure(outcome, 2, f"{path}: larger than 1 MiB")


def test_non_utf8_inventory(sparkctl, tmp_path):
    inventory = tmp_path / "inv.yaml"
    inventory.write_bytes(b"nodes:\n  - name: a\n    ip: 192.0.2.1\xff\n")
    assert_clean_failure(sparkctl("plan", "solo", "gpt-oss-20b", inventory=inventory), 2,
                         f"{inventory}:3: not UTF-8 text")


@pytest.mark.parametrize(("node", "fragment"), [
    ("{name: " + "n" * 5000 + ", ip: 192.0.2.1}", "is too long for a name; use at most 128 characters"),
    ("{name: a, ip: 192.0.2.1, port: 70000}", "nodes.0.port: Input should be less than or equal to 65535"),
    ("{name: a, ip: 192.0.2.1, ssh_key: /" + "k" * 300 + "}", "path component longer than 255 bytes"),
])
def test_hostile_inventory_is_refused(sparkctl, write, node, fragment):
    inventory = write("inv.yaml", f"nodes:\n  - {node}\n")
    outcome = sparkctl("plan", "solo", "gpt-oss-20b", inventory=inventory)
    assert_clean_failure(outcome, 2, f"{inventory}:2:", fragment)
    assert len(outcome.err) < 400


@pytest.mark.parametrize(("args", "fragment"), [
    (("plan", "solo", "r" * 5000), "not a recipe name: 'rrrr"),
    (("recipes", "show", "r" * 5000), "use at most 128 characters"),
    (("--recipes-dir", "/d" * 3000, "plan", "solo", "x"), "--recipes-dir /d/d"),
    (("--recipes-dir", "/" + "d" * 300, "plan", "solo", "x"), "path component longer than 255 bytes"),
    (("plan", "solo", "gpt-oss-20b", "--set", "max-model-len=" + "9" * 5000), "--set max-model-len: cannot read"),
    (("plan", "solo", "gpt-oss-20b", "--set", "x=&a [*a]"), "--set x: cannot read the value (alias *a refers"),
])
def test_hostile_arguments_are_refused(sparkctl, args, fragment):
    outcome = sparkctl(*args)
    assert_clean_failure(outcome, 2, fragment)
    assert len(outcome.err) < 400


def test_overlong_inventory_path(sparkctl):
    outcome = sparkctl("plan", "solo", "gpt-oss-20b", inventory="/i" * 3000)
    assert_clean_failure(outcome, 2, "is too long for a path; the limit is 4095 bytes")


def test_set_yaml11_words_stay_text(sparkctl):
    outcome = sparkctl("plan", "solo", "gpt-oss-20b", "--set", "tool-call-parser=off")
    assert outcome.code == 0, outcome.err
    assert "--tool-call-parser off" in outcome.out
