"""bench list/show/compare through the CLI on fixture runs: tables, ratios, warnings, JSON, the plot."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from PIL import Image

from orchestrator.bench import report, store
from orchestrator.cli.main import main

FIXTURE = json.loads((Path(__file__).parent / "bench_fixture.json").read_text())


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def stored(run_id: str, topology: str = "solo", speedup: float = 1.0, **deployment) -> dict:
    data = copy.deepcopy(FIXTURE)
    data["id"] = run_id
    data["deployment"].update(topology=topology, **deployment)
    for bench in data["result"]["benchmarks"]:
        for metric in ("pp_throughput", "tg_throughput"):
            bench[metric]["mean"] *= speedup
    store.save(data)
    return data


def cluster_recipe(data: dict) -> None:
    data["recipe"]["args"].update({"tensor-parallel-size": 2, "enforce-eager": True})
    data["recipe"]["name"] = "openai-gpt-oss-120b-cluster"
    data["deployment"].update(recipe="openai-gpt-oss-120b-cluster", recipe_hash="f" * 64)
    store.save(data)


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_shows_a_table_per_concurrency_with_ratios(capsys):
    stored("a")
    stored("b", topology="cluster", speedup=1.5)
    code, out, err = run(capsys, "bench", "compare", "a", "b")
    assert code == 0
    assert "concurrency 1" in out and "concurrency 2" in out
    assert "(1.50x)" in out and "(1.00x)" in out
    assert "warning" not in err


def test_compare_warns_about_recipe_keys_image_and_tool_but_not_topology(capsys):
    stored("a")
    other = stored("b", topology="cluster")
    cluster_recipe(other)
    other["images"] = {"spark1": {"image": "vllm-node-mxfp4", "layers": "0000"}}
    other["tool"]["version"] = "0.5.0"
    store.save(other)
    code, _, err = run(capsys, "bench", "compare", "a", "b")
    assert code == 0
    assert "args.tensor-parallel-size 1 -> 2" in err and "args.enforce-eager None -> True" in err
    assert "image layers" in err and "llama-benchy 0.4.0 vs 0.5.0" in err
    assert "topology" not in err


def test_compare_json_and_plot(capsys, tmp_path):
    stored("a")
    stored("b", topology="cluster", speedup=2.0)
    plot = tmp_path / "out" / "cmp.png"
    code, out, _ = run(capsys, "--json", "bench", "compare", "a", "b", "--plot", str(plot))
    assert code == 0
    data = json.loads(out)
    assert data["runs"] == ["a", "b"] and data["warnings"] == []
    second = [e for e in data["tables"]["1"] if e["run"] == "b"][0]
    assert second["tg_tps_ratio"] == pytest.approx(2.0)
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size == (1100, 450)


def test_partial_runs_are_marked_in_compare(capsys):
    stored("a")
    partial = stored("b")
    partial.update(status="partial", problems=["3 of 8 requests failed"])
    partial["result"]["benchmarks"] = partial["result"]["benchmarks"][:1]
    store.save(partial)
    code, out, err = run(capsys, "bench", "compare", "a", "b")
    assert code == 0 and "b is partial" in err and "concurrency 2" in out


def test_list_and_show(capsys, data_home):
    stored("a")
    (data_home / "sparkctl" / "bench" / "broken.json").write_text("{")
    code, out, err = run(capsys, "bench", "list")
    assert code == 0 and "a" in out and "broken.json: malformed" in err
    code, out, _ = run(capsys, "--json", "bench", "list")
    assert [r["id"] for r in json.loads(out)["runs"]] == ["a"]
    code, out, _ = run(capsys, "bench", "show", "a")
    assert code == 0 and "endpoint: http://10.77.0.11:8000/v1" in out and "concurrency 2" in out
    code, out, _ = run(capsys, "--json", "bench", "show", "a")
    assert json.loads(out)["result"]["version"] == "0.4.0"


def test_bad_input_is_one_clear_message(capsys):
    stored("a")
    code, _, err = run(capsys, "bench", "show", "nope")
    assert code == 2 and "no stored run 'nope'" in err and "Traceback" not in err
    code, _, err = run(capsys, "bench", "compare", "a")
    assert code == 2 and "at least two runs" in err
    code, _, err = run(capsys, "bench", "list")
    assert code == 0


def test_no_runs_listed(capsys):
    code, out, _ = run(capsys, "bench", "list")
    assert code == 0 and "no stored benchmark runs" in out


def test_differences_of_runs_without_stored_recipes():
    first = store.load(stored("a")["id"])
    other = stored("b", recipe_hash="e" * 64)
    other["recipe"] = None
    store.save(other)
    notes = report.differences([first, store.load("b")])
    assert len(notes) == 1 and "cannot say which keys differ" in notes[0]
