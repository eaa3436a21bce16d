"""Recipes users already have, run through real SSH: mods applied on every node before the server starts."""

from __future__ import annotations

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
