"""Guard and watchdog settings: durations and sizes as written, refused with the fix; a recipe's guard section."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.config.book import RecipeBook
from orchestrator.config.jobspec import Guard, Watchdog, kib, seconds
from orchestrator.errors import ConfigError


@pytest.mark.parametrize(("text", "expected"), [("30m", 1800), ("45", 45), ("2h", 7200), ("1d", 86400), ("10s", 10)])
def test_durations(text, expected):
    assert seconds(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("8GiB", 8 * 1024 * 1024), ("512MiB", 512 * 1024), ("8G", 8388608),
                                                ("1.5g", 1572864)])
def test_sizes_are_kib_like_meminfo(text, expected):
    assert kib(text) == expected


@pytest.mark.parametrize("text", ["", "0", "-5m", "5 weeks", "1x", "$(reboot)"])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(ValueError, match="write e.g. 30s"):
        seconds(text)


def test_guard_defaults_and_refusals():
    assert (Guard().every_s, Guard().below_kib, Guard().check_s) == (1800, 0, 60)
    with pytest.raises(ValidationError, match="at least 2s"):
        Guard(check="1s")
    with pytest.raises(ValidationError, match="not a size"):
        Guard(below="lots")
    with pytest.raises(ValidationError):
        Guard(evry="5m")
    assert Watchdog(deadline="3s").deadline_s == 3


def test_a_recipe_guard_section_is_validated_and_inherited(write, tmp_path):
    write("r/base.yaml", "model: org/m\ncontainer: img\nguard:\n  every: 20m\n  below: 8GiB\n")
    write("r/child.yaml", "extends: base\n")
    write("r/bad.yaml", "model: org/m\ncontainer: img\nguard:\n  evry: 20m\n")
    book = RecipeBook([tmp_path / "r"])
    child = book.resolve("child")
    assert child.guard == Guard(every="20m", below="8GiB")
    assert child.content_hash == book.resolve("base").content_hash
    with pytest.raises(ConfigError, match=r"guard\.evry.*every"):
        book.resolve("bad")
