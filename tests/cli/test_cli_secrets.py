"""Secrets never appear in plan text or JSON: only their names, or `***`."""

from __future__ import annotations

import json

import pytest

SECRET = "hf_Sup3rS3cretValue0123456789"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_hf_token_from_env_flag_is_hidden(sparkctl, as_json):
    args = (["--json"] if as_json else []) + ["up", "solo", "gpt-oss-20b", "--dry-run", "-e", f"HF_TOKEN={SECRET}"]
    outcome = sparkctl(*args)
    assert outcome.code == 0, outcome.err
    assert SECRET not in outcome.out + outcome.err
    assert "HF_TOKEN" in outcome.out


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_hf_token_from_environment_is_forwarded_hidden(sparkctl, monkeypatch, as_json):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    args = (["--json"] if as_json else []) + ["plan", "cluster", "openai-gpt-oss-120b-cluster"]
    outcome = sparkctl(*args)
    assert outcome.code == 0, outcome.err
    assert SECRET not in outcome.out + outcome.err
    assert "HF_TOKEN" in outcome.out


def test_text_plan_names_the_secret_as_stars(sparkctl, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    outcome = sparkctl("plan", "solo", "gpt-oss-20b")
    assert "# secrets exported on stdin, never in argv: HF_TOKEN=***" in outcome.out


def test_json_plan_lists_secrets_by_name(sparkctl):
    data = json.loads(sparkctl("--json", "plan", "solo", "gpt-oss-20b", "-e", f"HF_TOKEN={SECRET}").out)
    assert data["secrets"] == {"HF_TOKEN": "***", "VLLM_API_KEY": "***"}
    steps = [step for phase in data["phases"] for step in phase["steps"]]
    assert {tuple(s["secrets"]) for s in steps if "docker run -d" in s["script"]} == {("HF_TOKEN", "VLLM_API_KEY")}


def test_container_gets_the_secret_by_name_only(sparkctl):
    outcome = sparkctl("plan", "cluster", "openai-gpt-oss-120b-cluster", "-e", f"HF_TOKEN={SECRET}")
    runs = [line for line in outcome.out.splitlines() if line.startswith("docker run -d")]
    assert len(runs) == 2
    assert all(" -e HF_TOKEN " in line for line in runs)


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "WANDB_TOKEN", "db_password", "MY_SECRET"])
def test_other_credential_names_are_hidden_too(sparkctl, name):
    outcome = sparkctl("--json", "plan", "solo", "gpt-oss-20b", "-e", f"{name}={SECRET}")
    assert outcome.code == 0, outcome.err
    assert SECRET not in outcome.out + outcome.err
    assert json.loads(outcome.out)["secrets"] == {name: "***", "VLLM_API_KEY": "***"}


def test_forwarded_name_from_shell_is_hidden(sparkctl, monkeypatch):
    monkeypatch.setenv("CUSTOM_FORWARD", SECRET)
    outcome = sparkctl("plan", "solo", "gpt-oss-20b", "-e", "CUSTOM_FORWARD")
    assert outcome.code == 0, outcome.err
    assert SECRET not in outcome.out
    assert " -e CUSTOM_FORWARD " in outcome.out


def test_secret_does_not_change_the_recipe_hash(sparkctl):
    plain = json.loads(sparkctl("--json", "plan", "solo", "gpt-oss-20b").out)["deployment"]["recipe_hash"]
    secret = json.loads(sparkctl("--json", "plan", "solo", "gpt-oss-20b", "-e", f"HF_TOKEN={SECRET}").out)
    assert secret["deployment"]["recipe_hash"] == plain


def test_secret_is_not_echoed_in_an_error(sparkctl):
    outcome = sparkctl("plan", "solo", "openai-gpt-oss-120b-cluster", "-e", f"HF_TOKEN={SECRET}")
    assert outcome.code == 2
    assert SECRET not in outcome.out + outcome.err
