"""Stored benchmark runs: parsing llama-benchy's JSON, saving, loading, listing, bad files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from orchestrator.bench import store
from orchestrator.bench.store import BenchDataError, Row

FIXTURE = json.loads((Path(__file__).parent / "bench_fixture.json").read_text())


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def stored(run_id: str = "r1", **changes) -> dict:
    data = copy.deepcopy(FIXTURE)
    data.update(id=run_id, **changes)
    store.save(data)
    return data


def test_rows_are_one_per_test_with_mean_metrics():
    rows = store.rows_of(FIXTURE["result"])
    assert [r.shape for r in rows] == [(1, 512, 32, 0), (2, 512, 32, 0)]
    first = rows[0]
    assert first.pp_tps == pytest.approx(1973.9, abs=0.1) and first.tg_tps == pytest.approx(48.8, abs=0.1)
    assert first.ttfr_ms == pytest.approx(262.1, abs=0.1) and first.e2e_ttft_ms is not None


def test_context_prefill_phases_and_missing_metrics_are_handled():
    result = {"benchmarks": [{"concurrency": 1, "prompt_size": 8, "response_size": 4, "context_size": 64,
                              "is_context_prefill_phase": True, "pp_throughput": {"mean": 1}},
                             {"concurrency": 1, "prompt_size": 8, "response_size": 4, "context_size": 64,
                              "tg_throughput": {"mean": 9.5}, "ttfr": None}]}
    assert store.rows_of(result) == [Row(1, 8, 4, 64, None, 9.5, None, None)]
    assert store.rows_of(None) == []


def test_save_then_load_round_trips_under_xdg_data_home(data_home):
    stored("20260101-000000-x-solo")
    path = data_home / "sparkctl" / "bench" / "20260101-000000-x-solo.json"
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    run = store.load("20260101-000000-x-solo")
    assert run.status == "complete" and run.get("deployment", "topology") == "solo" and len(run.rows) == 2
    assert store.load(str(path)).id == run.id


def test_run_ids_are_unique():
    stored("20260101-000000-x-solo")
    assert store.new_run_id("20260101-000000", "x", "solo") == "20260101-000000-x-solo-2"
    assert store.new_run_id("20260101-000001", "x", "solo") == "20260101-000001-x-solo"


def test_unknown_run_id_says_how_to_list_and_suggests():
    stored("20260101-000000-x-solo")
    with pytest.raises(BenchDataError, match=r"no stored run 'x-solo'.*did you mean 20260101-000000-x-solo.*bench list"):
        store.load("x-solo")
    with pytest.raises(BenchDataError, match="not a run id"):
        store.load("../etc/passwd")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", json.dumps({"id": "bad", "result": {"benchmarks": 3}}),
                                     json.dumps({"id": "bad", "result": {"benchmarks": [{"prompt_size": 1}]}})])
def test_malformed_stored_run_is_a_clear_error_and_list_keeps_going(data_home, content):
    stored("good")
    (data_home / "sparkctl" / "bench" / "bad.json").write_text(content)
    with pytest.raises(BenchDataError, match=r"bad.json: malformed stored run .*fix or remove the file"):
        store.load("bad")
    runs, problems = store.list_runs()
    assert [r.id for r in runs] == ["good"] and len(problems) == 1 and "bad.json" in problems[0]


def test_list_with_no_dir_is_empty():
    assert store.list_runs() == ([], [])
