"""Every table fits 80 columns without breaking a word (legend numbers, wrapped free text); `--wide` shows all."""

from __future__ import annotations

import copy
import json
import re

import pytest

from orchestrator.bench import store
from orchestrator.ops import caches, status
from orchestrator.report import console
from orchestrator.report.render import cell_width
from tests.cli.conftest import REPO

FIXTURE = json.loads((REPO / "tests" / "unit" / "bench" / "bench_fixture.json").read_text())
SOLO, CLUSTER = "20261126-214048-openai-gpt-oss-120b-solo", "20261126-220301-openai-gpt-oss-120b-cluster"
CLUSTER_DEPLOYMENT = "openai-gpt-oss-120b-cluster.cluster.2294e2d3"
REPLICAS = "openai-gpt-oss-120b.replicas.2294e2d3"
NOT_READY = "not ready: /health not answering yet (connection refused)"


def status_row(node: str, deployment: str, role: str, endpoint: str, health: str = "ready", backends: str = "") -> dict:
    """One `status` row as ops.status builds it."""
    return {"node": node, "deployment": deployment, "role": role, "recipe": deployment.split(".")[0],
            "hash": "2294e2d3eb23", "container": "running", "health": health, "endpoint": endpoint, "backends": backends}


CLUSTER_ROWS = [status_row("GoldFinger", CLUSTER_DEPLOYMENT, "head", "http://192.168.3.203:8000/v1"),
                status_row("GoldFinger2", CLUSTER_DEPLOYMENT, "worker", "", health="-")]
REPLICA_ROWS = [
    status_row("GoldFinger", REPLICAS, "proxy", "http://192.168.3.203:4000/v1",
               backends=f"http://192.168.3.203:8000/v1 ready, http://192.168.3.190:8000/v1 {NOT_READY}"),
    status_row("GoldFinger", REPLICAS, "replica", "http://192.168.3.203:8000/v1"),
    status_row("GoldFinger2", REPLICAS, "replica", "http://192.168.3.190:8000/v1", health=NOT_READY),
]
DROPS = {f"spark{i}": {"mem_available_kb_before": "12345678", "mem_available_kb_after": "115000000"} for i in (1, 2)}


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    yield
    console.set_wide(False)


def assert_fits(out: str, texts: list[str], width: int = 80) -> None:
    """Every line fits; nothing is cut off (…); every word on screen is a whole word of the input texts."""
    assert max(cell_width(line.rstrip()) for line in out.splitlines()) <= width, out
    assert "…" not in out, out
    words = {word for text in texts for word in str(text).split()}
    decoration = re.compile(r"─+|\[\d+\]|[\w ]+:")
    broken = [t for t in out.split() if t not in words and not decoration.fullmatch(t)]
    assert broken == [], f"broken words {broken} in\n{out}"


def flat(rows: list[dict]) -> list[str]:
    return [word for row in rows for pair in row.items() for word in pair]


@pytest.mark.parametrize("rows", [CLUSTER_ROWS, REPLICA_ROWS], ids=["cluster", "replicas"])
def test_status_fits(capsys, rows):
    status.print_table(rows)
    out = capsys.readouterr().out
    assert_fits(out, ["sparkctl status", *flat(rows)])
    assert f"[1] deployment: {rows[0]['deployment']}" in out and "[1]" in out.splitlines()[3]


def test_status_replicas_refers_to_backends_by_their_legend_numbers(capsys):
    status.print_table(REPLICA_ROWS)
    out = capsys.readouterr().out
    assert "[3] endpoint: http://192.168.3.203:8000/v1" in out and "[3] ready," in out


def test_drop_caches_fits(capsys):
    caches.print_table(DROPS)
    out = capsys.readouterr().out
    assert_fits(out, ["page cache dropped", "node MemAvailable before after", *DROPS, "11.8 109.7 GiB"])
    assert "spark2" in out and "109.7 GiB" in out


def test_recipes_list_fits(sparkctl):
    outcome = sparkctl("recipes", "list")
    descriptions = [r["description"] for r in json.loads(sparkctl("--json", "recipes", "list").out)]
    assert_fits(outcome.out, ["recipes name sparks image description vllm-node vllm-node-mxfp4",
                              *(p.stem for p in (REPO / "recipes").glob("*.yaml")), "1 2", *descriptions])
    assert "[2] vllm-node-mxfp4" in outcome.out


def stored_runs() -> None:
    for run_id, topology in ((SOLO, "solo"), (CLUSTER, "cluster")):
        data = copy.deepcopy(FIXTURE)
        data["id"] = run_id
        data["deployment"]["topology"] = topology
        store.save(data)


BENCH_WORDS = ["benchmark runs id status tests best tg tok/s topology complete solo cluster",
               "concurrency run pp tg depth pp tok/s TTFR ms e2e TTFT ms (solo) (cluster)", SOLO, CLUSTER]


@pytest.mark.parametrize("args", [("bench", "list"), ("bench", "show", SOLO), ("bench", "compare", SOLO, CLUSTER)])
def test_bench_tables_fit(sparkctl, args):
    stored_runs()
    out = sparkctl(*args).out
    tables = out[re.search(r"^(benchmark runs|\[1\] |concurrency 1$)", out, re.M).start():]
    tables = "\n".join(line for line in tables.splitlines() if not line.startswith(("stored", "warning")))
    numbers = re.findall(r"(?<!\S)(?:\d+(?:\.\d+)?|\(\d+\.\d\dx\)|-)(?!\S)", tables)
    assert_fits(tables, [*BENCH_WORDS, *numbers])
    assert (f"[1] {SOLO}" in tables) is (args[1] != "show")


def test_wide_shows_every_column_in_full(sparkctl):
    out = sparkctl("recipes", "list", "--wide").out
    assert "RedHatAI/DeepSeek-R1-Distill-Llama-70B-FP8-dynamic" in out and "[1]" not in out
    assert any("DeepSeek-R1-Distill-Llama-70B FP8-dynamic (~72 GB) on one Spark" in line for line in out.splitlines())
    assert "RedHatAI/DeepSeek" not in sparkctl("recipes", "list").out, "--wide must not outlive its invocation"
    assert "RedHatAI/DeepSeek" in sparkctl("--wide", "recipes", "list").out


def test_wide_status_and_json_unchanged(capsys, sparkctl):
    console.set_wide(True)
    status.print_table(REPLICA_ROWS)
    out = capsys.readouterr().out
    assert "[1]" not in out and REPLICAS in out and "2294e2d3eb23" in out
    assert json.loads(sparkctl("--json", "recipes", "list", "--wide").out)[0]["model"]
