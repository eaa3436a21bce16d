"""`status` tells a stalled server (health answers, the token times out) from one that is down or refusing."""

from __future__ import annotations

from orchestrator.ops.health import TOKEN_DEADLINE, stalled
from orchestrator.plan import probes
from orchestrator.remote.transport import Result

UP = "state=running\nhealth_code=200\nhealth_body=\nmodels_code=200\nmodels_body={}\n"


def _result(tail: str) -> Result:
    return Result("spark1", 0, UP + tail, "", 1.0)


def test_a_completion_that_times_out_behind_a_healthy_server_is_a_stall():
    assert stalled(_result("completion_code=000\ncompletion_body=curl: (28) Operation timed out after 10001 ms\n"))


def test_refusals_errors_and_answers_are_not_stalls():
    assert not stalled(_result("completion_code=000\ncompletion_body=curl: (7) Failed to connect\n"))
    assert not stalled(_result("completion_code=500\ncompletion_body={}\n"))
    assert not stalled(_result('completion_code=200\ncompletion_body={"choices": [{}]}\n'))
    down = Result("spark1", 0, "state=running\nhealth_code=000\nhealth_body=curl: (28) timed out\n", "", 1.0)
    assert not stalled(down)


def test_status_asks_for_the_token_with_a_short_deadline_and_up_keeps_its_long_one():
    assert f"ask completion {TOKEN_DEADLINE} " in probes.server_probe(None, "c", 8000, "m",
                                                                       completion_deadline=TOKEN_DEADLINE)
    assert "ask completion 60 " in probes.server_probe(None, "c", 8000, "m")
