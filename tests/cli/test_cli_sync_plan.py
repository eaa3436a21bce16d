"""`plan --setup`, `up --setup --dry-run` and `models sync --dry-run` show every sync step, connecting to nothing."""

from __future__ import annotations

import json

RECIPE = "openai-gpt-oss-120b-cluster"


def titles(out: str) -> list[str]:
    return [line.split(". ", 1)[1].split(" - ")[0] for line in out.splitlines() if line.startswith("## ")]


def test_plan_setup_shows_check_download_each_transfer_and_verify_before_up(sparkctl, no_network):
    out = sparkctl("plan", "cluster", RECIPE, "--setup")
    assert out.code == 0, out.err
    assert titles(out.out)[:7] == ["Image check", "Image copy", "Image verify", "Model check", "Model download",
                                   "Model copy", "Model verify"]
    assert "Preflight" in titles(out.out)
    assert "# [GoldFinger2] copy openai/gpt-oss-120b (only the blobs GoldFinger2 lacks) from GoldFinger" in out.out
    assert "# [GoldFinger] send to GoldFinger2 at 192.168.100.11 over the fabric link" in out.out
    assert "HF_TOKEN=***" in out.out
    assert sparkctl("up", "cluster", RECIPE, "--setup", "--dry-run").out == out.out


def test_models_sync_dry_run_as_json_lists_the_transfer_source_and_target(sparkctl, no_network):
    out = sparkctl("--json", "models", "sync", RECIPE, "--verify", "--dry-run")
    assert out.code == 0, out.err
    phases = json.loads(out.out)["phases"]
    assert [p["name"] for p in phases] == ["model-content", "model-check", "model-download", "model-copy",
                                           "model-verify"]
    copy = phases[3]
    assert copy["kind"] == "transfer"
    assert [(s["source"], s["node"], s["link"]) for s in copy["steps"]] == [("GoldFinger", "GoldFinger2", "fabric")]
