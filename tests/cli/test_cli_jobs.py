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
