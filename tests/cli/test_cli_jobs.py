"""`guard` and `watchdog` refuse bad settings with the option and the fix, before connecting to any node."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("args", "message"), [
    (("guard", "on", "--every", "1x"), "--every: '1x' is not a duration: write e.g. 30s"),
    (("guard", "on", "--below", "lots"), "--below: 'lots' is not a size: write e.g. 8GiB"),
    (("guard", "on", "--check", "1s"), "--check: '1s' is too short: at least 2s"),
    (("guard", "on", "--every", "off"), "--every off leaves the guard nothing to do: give --below SIZE too"),
    (("watchdog", "on", "--deadline", "soon"), "--deadline: 'soon' is not a duration"),
])
def test_bad_settings_are_refused_before_any_connection(sparkctl, no_network, args, message):
    outcome = sparkctl(*args)
    assert outcome.code == 2 and message in outcome.err, outcome
    assert no_network == []


def test_watchdog_counts_are_bounded(sparkctl, no_network):
    outcome = sparkctl("watchdog", "on", "--after", "0")
    assert outcome.code == 2 and "--after" in outcome.err
    assert no_network == []


def test_guard_dry_run_shows_each_nodes_install_script(sparkctl, no_network):
    outcome = sparkctl("guard", "on", "--every", "20m", "--below", "8GiB", "--dry-run")
    assert outcome.code == 0, outcome
    assert outcome.out.count("install the guard") == 2 and "every=1200" in outcome.out
    assert "below_kb=8388608" in outcome.out and no_network == []


def test_plan_of_a_recipe_with_a_guard_ends_with_its_install(sparkctl, no_network, tmp_path):
    recipe = tmp_path / "guarded.yaml"
    recipe.write_text("extends: openai-gpt-oss-120b\nguard: {every: 30m, below: 8GiB}\n")
    outcome = sparkctl("plan", "solo", str(recipe))
    assert outcome.code == 0, outcome
    assert outcome.out.split("## ")[-1].splitlines()[0].endswith(". Install guard"), "the last phase"
    assert "every=1800" in outcome.out and no_network == []
