"""Recipes users already have, given as files: the write-up's format, eugr v1 and sparkrun v2, planned unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orchestrator.config.formats.eugr import eugr_serve_argv
from orchestrator.config.formats.vllmargs import parse_serve

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "config" / "formats" / "fixtures"
WRITEUP = FIXTURES / "writeup" / "gpt-oss-120b.yaml"
EUGR = FIXTURES / "eugr" / "recipes"
# What sparkctl owns on every serve line: where it listens, the name clients use, how ranks find each other.
OWNED = {"host", "port", "served-model-name", "distributed-executor-backend"}


def _plan(sparkctl, *args: str) -> dict:
    outcome = sparkctl("--json", "plan", *args)
    assert outcome.code == 0, outcome.err
    return json.loads(outcome.out)


def _serve_argv(plan: dict) -> list[str]:
    """The `vllm serve ...` words the plan starts, whichever way (the container's command, or the Ray head's)."""
    import shlex

    for phase in plan["phases"]:
        if phase["name"] not in ("serve", "ray-head") or "docker run" not in phase["steps"][0]["script"]:
            continue
        words = shlex.split(phase["steps"][0]["script"].splitlines()[-1])
        start = words.index("serve") if "--entrypoint" not in words else words.index("serve", words.index("--entrypoint"))
        return ["vllm", *words[start:]]
    raise AssertionError("no serve phase")


def _flags(argv: list[str]) -> tuple[str, dict]:
    line = parse_serve(argv)
    flags = {k: json.loads(v) if isinstance(v, str) and v.startswith("{") else v for k, v in line.flags.items()}
    return line.model, {k: v for k, v in flags.items() if k not in OWNED}


def test_the_write_ups_recipe_plans_verbatim_with_its_port_and_a_warning(sparkctl):
    outcome = sparkctl("plan", "solo", str(WRITEUP))
    assert outcome.code == 0, outcome.err
    assert "--num-prompts" in outcome.err and "--pp" in outcome.err  # the unknown flag, and the valid ones named
    plan = _plan(sparkctl, "solo", str(WRITEUP))
    assert plan["deployment"]["recipe"] == "gpt-oss-120b"
    assert plan["deployment"]["endpoint"].endswith(":8000/v1")
    assert plan["deployment"]["served_name"] == "openai/gpt-oss-120b"
    model, flags = _flags(_serve_argv(plan))
    assert model == "openai/gpt-oss-120b" and flags["enforce-eager"] is True and flags["max-model-len"] == 4096


def test_a_recipe_port_moves_the_whole_deployment(sparkctl, write, tmp_path):
    data = yaml.safe_load(WRITEUP.read_text())
    data["args"]["port"] = 8123
    path = write("mine/custom.yaml", yaml.safe_dump(data))
    plan = _plan(sparkctl, "solo", str(path))
    assert plan["deployment"]["endpoint"].endswith(":8123/v1")
    scripts = "\n".join(s["script"] for p in plan["phases"] for s in p["steps"])
    assert "--port 8123" in scripts and "/dev/tcp/127.0.0.1/8123" in scripts and "http://127.0.0.1:8123" in scripts


@pytest.mark.parametrize(("name", "topology"), [("qwen3-30b-template", "cluster"), ("nano-solo-mod", "solo")])
def test_eugr_recipes_plan_the_serve_line_eugrs_runner_would(sparkctl, name, topology):
    path = EUGR / f"{name}.yaml"
    expected = _flags(eugr_serve_argv(yaml.safe_load(path.read_text()), path, topology))
    assert _flags(_serve_argv(_plan(sparkctl, topology, str(path)))) == expected


def test_a_solo_only_eugr_recipe_is_refused_as_a_cluster(sparkctl):
    outcome = sparkctl("plan", "cluster", str(EUGR / "nano-solo-mod.yaml"))
    assert outcome.code != 0 and "solo" in outcome.err and "Traceback" not in outcome.err


def test_mods_ship_in_the_plan_and_run_before_the_server(sparkctl):
    plan = _plan(sparkctl, "solo", str(EUGR / "nano-solo-mod.yaml"))
    script = next(p for p in plan["phases"] if p["name"] == "serve")["steps"][0]["script"]
    assert "base64 -d | tar -xz -C" in script
    assert ":/opt/sparkctl/mods/00-fix-tool-parser:ro" in script
    assert "--entrypoint sh" in script and "sparkctl-mods vllm serve" in script


def test_changing_a_mod_changes_the_deployment(sparkctl, write, tmp_path):
    import shutil

    root = tmp_path / "eugr"
    shutil.copytree(FIXTURES / "eugr", root)
    path = str(root / "recipes" / "nano-solo-mod.yaml")
    before = _plan(sparkctl, "solo", path)["deployment"]["recipe_hash"]
    (root / "mods" / "fix-tool-parser" / "run.sh").write_text("#!/bin/sh\necho changed\n")
    assert _plan(sparkctl, "solo", path)["deployment"]["recipe_hash"] != before


def test_recipes_show_reads_a_foreign_file(sparkctl):
    outcome = sparkctl("--json", "recipes", "show", str(EUGR / "qwen3-30b-template.yaml"))
    assert outcome.code == 0, outcome.err
    shown = json.loads(outcome.out)
    assert shown["model"] == "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8" and shown["api_port"] == 8123
