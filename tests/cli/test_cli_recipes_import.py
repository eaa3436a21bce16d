"""`sparkctl recipes import`: foreign recipes become native files that plan exactly as the originals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "config" / "formats" / "fixtures"


def _eugr_family(tmp_path: Path) -> Path:
    """The eugr fixtures plus a sibling of the Qwen recipe (same model, longer context): a family."""
    root = tmp_path / "eugr"
    shutil.copytree(FIXTURES / "eugr", root)
    qwen = yaml.safe_load((root / "recipes" / "qwen3-30b-template.yaml").read_text())
    qwen["defaults"]["max_model_len"] = 65536
    (root / "recipes" / "qwen3-30b-long.yaml").write_text(yaml.safe_dump(qwen))
    return root / "recipes"


def _plan(sparkctl, *args: str, recipes_dir: Path | None = None) -> dict:
    where = ("--recipes-dir", str(recipes_dir)) if recipes_dir else ()
    outcome = sparkctl(*where, "--json", "plan", *args)
    assert outcome.code == 0, outcome.err
    return json.loads(outcome.out)


def _same_up_to_flag_order(plan: dict) -> dict:
    """A plan with each line's words sorted: an `extends` merge may list the same flags in another order."""
    for phase in plan["phases"]:
        for step in phase["steps"]:
            step["script"] = [sorted(line.split()) for line in step["script"].splitlines()]
    return plan


def test_imported_eugr_recipes_plan_identically(sparkctl, tmp_path):
    recipes, into = _eugr_family(tmp_path), tmp_path / "native"
    outcome = sparkctl("recipes", "import", str(recipes), "--into", str(into))
    assert outcome.code == 0, outcome.err
    assert "not applicable: build_args" in outcome.out and "mapped: mods" in outcome.out
    for name, topology in (("qwen3-30b-template", "cluster"), ("qwen3-30b-long", "cluster"), ("nano-solo-mod", "solo")):
        original = _plan(sparkctl, topology, str(recipes / f"{name}.yaml"))
        imported = _plan(sparkctl, topology, name, recipes_dir=into)
        assert imported["deployment"] == original["deployment"], name
        assert _same_up_to_flag_order(imported) == _same_up_to_flag_order(original), name


def test_a_family_shares_a_base_through_extends(sparkctl, tmp_path):
    into = tmp_path / "native"
    assert sparkctl("recipes", "import", str(_eugr_family(tmp_path)), "--into", str(into)).code == 0
    base = yaml.safe_load((into / "qwen3-30b-long-base.yaml").read_text())
    child = yaml.safe_load((into / "qwen3-30b-template.yaml").read_text())
    assert base["model"] == "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8" and "max-model-len" not in base["args"]
    assert child["extends"] == "qwen3-30b-long-base" and child["args"] == {"max-model-len": 32768}


def test_a_taken_name_is_refused_unless_renamed(sparkctl, tmp_path, write):
    into = tmp_path / "native"
    write("native/gpt-oss-120b.yaml", "model: m\ncontainer: c\n")
    refused = sparkctl("recipes", "import", str(FIXTURES / "writeup"), "--into", str(into))
    assert refused.code != 0 and "exists already" in refused.err and "--rename" in refused.err
    assert sorted(p.name for p in into.iterdir()) == ["gpt-oss-120b.yaml"]
    renamed = sparkctl("recipes", "import", str(FIXTURES / "writeup"), "--into", str(into), "--rename")
    assert renamed.code == 0, renamed.err
    assert yaml.safe_load((into / "gpt-oss-120b-2.yaml").read_text())["api_port"] == 8000


def test_an_unreadable_file_writes_nothing(sparkctl, tmp_path, write):
    bad = write("in/broken.yaml", "recipe_version: '1'\nname: x\ncontainer: c\ncommand: 'echo hi'\n")
    write("in/ok.yaml", (FIXTURES / "writeup" / "gpt-oss-120b.yaml").read_text())
    outcome = sparkctl("recipes", "import", str(bad.parent), "--into", str(tmp_path / "native"))
    assert outcome.code != 0 and str(bad) in outcome.err and "Traceback" not in outcome.err
    assert not (tmp_path / "native").exists()
