"""Recipes users already have, run through real SSH: mods applied on every node before the server starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.benchenv import SPEEDS
from tests.integration.sparkctl_run import Sparkctl

MOD = """#!/bin/sh
set -e
echo "marker mod: patching the image's working directory"
echo applied > "$WORKSPACE_DIR/mod-marker"
"""


def test_a_mod_runs_on_every_node_before_the_server(spark: Sparkctl, tmp_path):
    mod = tmp_path / "mods" / "marker"
    mod.mkdir(parents=True)
    (mod / "run.sh").write_text(MOD)
    recipe = tmp_path / "recipes" / "modded.yaml"
    recipe.parent.mkdir()
    recipe.write_text("extends: openai-gpt-oss-120b-cluster\nmods: [../mods/marker]\n")
    spark.run("up", "cluster", str(recipe), check=True)
    for node in (1, 2):
        logs = spark.cluster.docker(node, ["logs", "sparkctl-vllm"], check=True)
        lines = (logs.stdout + logs.stderr).splitlines()
        applied = lines.index("sparkctl: applying mod marker")
        assert lines[applied + 1] == "marker mod: patching the image's working directory"
        assert not any("ray" in line.lower() for line in lines[:applied]), "the mod must run before Ray starts"
        marker = spark.cluster.docker(node, ["exec", "sparkctl-vllm", "sh", "-c", 'cat "$PWD/mod-marker"'], check=True)
        assert marker.stdout.strip() == "applied"
    spark.run("down", check=True)
    assert spark.no_containers_anywhere()


WRITEUP = Path(__file__).resolve().parents[1] / "unit" / "config" / "formats" / "fixtures" / "writeup" / "gpt-oss-120b.yaml"


def test_the_write_ups_recipe_serves_then_runs_its_benchmark(bench_env):
    spark, tokenizer = bench_env
    result = spark.run("--json", "up", "solo", str(WRITEUP), *SPEEDS, "--tokenizer", str(tokenizer), timeout=900,
                       check=True)
    assert "--num-prompts is not a llama-benchy 0.4.0 flag" in result.stderr
    stored = json.loads(result.stdout[result.stdout.rindex('{\n  "id"'):])
    assert stored["status"] == "complete", stored
    shown = json.loads(spark.run("--json", "bench", "show", stored["id"], check=True).stdout)
    assert shown["deployment"]["served_name"] == "openai/gpt-oss-120b"
    assert shown["deployment"]["endpoint"] == "http://10.77.0.11:8000/v1"


@pytest.mark.parametrize("sim_cluster", [{"nodes": 2, "extra_images": ("vllm-openai-stock",)}], indirect=True)
def test_an_upstream_style_image_serves_solo_and_as_a_cluster_without_ray(sim_cluster, tmp_path):
    spark = Sparkctl(sim_cluster)
    spark.run("down", check=True)
    recipe = tmp_path / "stock.yaml"
    recipe.write_text("extends: nemotron-3-nano-nvfp4\ncontainer: vllm-openai-stock\n")
    try:
        spark.run("up", "solo", str(recipe), check=True, timeout=400)
        refused = spark.run("up", "cluster", str(recipe), "--set", "tensor-parallel-size=2", "--replace")
        assert refused.returncode != 0 and "has no working 'ray' command" in refused.stderr
        spark.run("up", "cluster", str(recipe), "--set", "tensor-parallel-size=2", "--backend", "mp", "--replace",
                  check=True, timeout=400)
        rows = json.loads(spark.run("--json", "status", check=True).stdout)
        assert [r["health"] for r in rows if r["role"] == "head"] == ["ready"]
    finally:
        spark.run("down", check=True)
