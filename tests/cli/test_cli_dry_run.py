"""`sparkctl up --dry-run` / `plan`: the whole plan per node, every command on one line, no connection."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest

CLUSTER = ("up", "cluster", "openai-gpt-oss-120b-cluster", "--dry-run")
FABRIC = {
    "GoldFinger": {"VLLM_HOST_IP": "192.168.100.10"},
    "GoldFinger2": {"VLLM_HOST_IP": "192.168.100.11"},
}
SHARED_FABRIC_ENV = {"NCCL_SOCKET_IFNAME": "enp1s0f1np1", "GLOO_SOCKET_IFNAME": "enp1s0f1np1",
                     "TP_SOCKET_IFNAME": "enp1s0f1np1", "UCX_NET_DEVICES": "enp1s0f1np1",
                     "NCCL_IB_HCA": "rocep1s0f1"}
MOUNTS = ["$HOME/.cache/huggingface:/root/.cache/huggingface", "$HOME/.cache/vllm:/root/.cache/vllm",
          "$HOME/.cache/flashinfer:/root/.cache/flashinfer", "$HOME/.cache/tiktoken_rs:/root/.cache/tiktoken_rs",
          "$HOME/.cache/ccache:/root/.cache/ccache", "$HOME/.triton:/root/.triton"]


def _sections(out: str) -> dict[str, list[tuple[str, list[str]]]]:
    """Phase title -> [(node, command lines)] parsed from the printed plan."""
    sections: dict[str, list[tuple[str, list[str]]]] = {}
    current: list[tuple[str, list[str]]] = []
    for line in out.splitlines():
        if line.startswith("## "):
            title = line[3:].split(" - ")[0].split(". ", 1)[1]
            current = sections.setdefault(title, [])
        elif line.startswith("# [") and current is not None:
            current.append((line[3:line.index("]")], []))
        elif line.strip() and not line.startswith("#") and current:
            current[-1][1].append(line)
    return sections


def _tokens(lines: list[str], first: str) -> list[str]:
    return next(shlex.split(line) for line in lines if line.startswith(first))


def _env(tokens: list[str]) -> dict[str, str]:
    return dict(tokens[i + 1].split("=", 1) for i, t in enumerate(tokens) if t == "-e" and "=" in tokens[i + 1])


def _volumes(tokens: list[str]) -> list[str]:
    return [tokens[i + 1] for i, t in enumerate(tokens) if t == "-v"]


@pytest.fixture
def cluster_plan(sparkctl):
    outcome = sparkctl(*CLUSTER)
    assert outcome.code == 0, outcome.err
    return outcome


def test_cluster_dry_run_succeeds_without_connecting(cluster_plan, no_network):
    assert no_network == []


def test_dry_run_with_unroutable_nodes_is_instant(sparkctl, write, no_network):
    inventory = write("inv.yaml", """
        nodes:
          - {name: n1, ip: 192.0.2.10, fabric_ip: 198.51.100.10, fabric_if: eth9}
          - {name: n2, ip: 192.0.2.11, fabric_ip: 198.51.100.11, fabric_if: eth9}
        """)
    started = time.monotonic()
    outcome = sparkctl(*CLUSTER, inventory=inventory)
    assert outcome.code == 0, outcome.err
    assert time.monotonic() - started < 5
    assert "--node-ip-address 198.51.100.11" in outcome.out
    assert no_network == []


def test_every_phase_is_shown(cluster_plan):
    assert list(_sections(cluster_plan.out)) == ["Preflight", "Drop page cache", "Ray head", "Ray workers",
                                                 "Ray membership", "vLLM serve", "Readiness", "Restart policy"]


def test_caches_dropped_on_both_nodes(cluster_plan):
    steps = _sections(cluster_plan.out)["Drop page cache"]
    assert [node for node, _ in steps] == ["GoldFinger", "GoldFinger2"]
    for _, lines in steps:
        assert any("/proc/sys/vm/drop_caches" in line for line in lines)


@pytest.mark.parametrize(("phase", "node"), [("Ray head", "GoldFinger"), ("Ray workers", "GoldFinger2")])
def test_container_start_has_all_mounts_and_fabric_env(cluster_plan, phase, node):
    [(shown_node, lines)] = _sections(cluster_plan.out)[phase]
    assert shown_node == node
    tokens = _tokens(lines, "docker run")
    assert _volumes(tokens) == MOUNTS
    env = _env(tokens)
    assert env.items() >= {**FABRIC[node], **SHARED_FABRIC_ENV}.items()
    assert env["VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8"] == "1"
    assert env["TIKTOKEN_RS_CACHE_DIR"] == "/root/.cache/tiktoken_rs"
    assert "vllm-node-mxfp4" in tokens


def _entry(lines: list[str]) -> tuple[list[str], list[str]]:
    """A Ray container's entry: the words of its `sh -c` script, and the command the script ends in."""
    tokens = _tokens(lines, "docker run")
    entry = tokens[tokens.index("--entrypoint"):]
    assert entry[:4] == ["--entrypoint", "sh", "vllm-node-mxfp4", "-c"]
    return shlex.split(entry[4]), entry[7:]


def test_ray_head_on_node1_fabric_ip(cluster_plan):
    [(_, lines)] = _sections(cluster_plan.out)["Ray head"]
    script, then = _entry(lines)
    ray = script[script.index("ray"):script.index("||")]
    assert ray == ["ray", "start", "--head", "--port", "6379", "--node-ip-address", "192.168.100.10",
                   "--include-dashboard", "false", "--disable-usage-stats"]
    assert then[:2] == ["vllm", "serve"], "the head's main process ends in vllm serve"


def test_ray_worker_on_node2_joins_head_fabric_ip(cluster_plan):
    [(_, lines)] = _sections(cluster_plan.out)["Ray workers"]
    script, then = _entry(lines)
    assert "192.168.100.10" in script and "6379" in script, "the worker waits for the head's port"
    assert then == ["ray", "start", "--address", "192.168.100.10:6379", "--node-ip-address", "192.168.100.11",
                    "--disable-usage-stats", "--block"]


def test_vllm_serve_on_head(cluster_plan):
    [(node, lines)] = _sections(cluster_plan.out)["Ray head"]
    assert node == "GoldFinger"
    tokens = _tokens(lines, "docker run")
    serve = tokens[tokens.index("serve"):]
    assert serve[:2] == ["serve", "openai/gpt-oss-120b"]
    joined = " ".join(serve)
    for flag in ("--tensor-parallel-size 2", "--distributed-executor-backend ray", "--enforce-eager",
                 "--mxfp4-layers moe,qkv,o", "--served-model-name openai/gpt-oss-120b", "--port 8000"):
        assert f" {flag}" in f"{joined} ", flag
    assert "lm_head" not in joined


def test_every_command_whole_on_one_line(cluster_plan):
    for line in cluster_plan.out.splitlines():
        assert not line.rstrip().endswith("\\")
        if line.strip() and not line.startswith("#"):
            shlex.split(line)
    for section in _sections(cluster_plan.out).values():
        for _, lines in section:
            docker_runs = [line for line in lines if line.startswith("docker run -d")]
            assert all(" --entrypoint sh vllm-node-mxfp4 -c " in line for line in docker_runs)


def test_plan_json_matches_dry_run_content(sparkctl):
    outcome = sparkctl("--json", "plan", "cluster", "openai-gpt-oss-120b-cluster")
    data = json.loads(outcome.out)
    assert data["action"] == "up"
    assert data["deployment"]["nodes"] == ["GoldFinger", "GoldFinger2"]
    assert [p["name"] for p in data["phases"]] == ["preflight", "drop-caches", "ray-head", "ray-workers",
                                                   "ray-gate", "serve", "readiness", "restart-policy"]
    gate = data["phases"][4]["steps"][0]["gate"]
    assert gate["expected_ips"] == ["192.168.100.10", "192.168.100.11"] and gate["min_gpus"] == 2


def test_solo_plan_json(sparkctl):
    data = json.loads(sparkctl("--json", "plan", "solo", "openai-gpt-oss-120b").out)
    assert data["deployment"]["id"].startswith("openai-gpt-oss-120b.solo.")
    serve = data["phases"][2]["steps"][0]["script"]
    assert "--distributed-executor-backend" not in serve
    assert "VLLM_HOST_IP" not in serve


def test_dry_run_timeout_sets_the_readiness_deadline(sparkctl):
    data = json.loads(sparkctl("--json", "up", "solo", "gpt-oss-20b", "--dry-run", "--timeout", "42").out)
    assert data["phases"][-2]["steps"][0]["readiness"]["deadline"] == 42


def test_nodes_option_picks_the_solo_node(sparkctl):
    outcome = sparkctl("plan", "solo", "gpt-oss-20b", "--nodes", "GoldFinger2")
    assert "# [GoldFinger2] " in outcome.out and "# [GoldFinger] " not in outcome.out


def test_set_overrides_an_arg_and_changes_the_hash(sparkctl):
    plain = json.loads(sparkctl("--json", "plan", "solo", "gpt-oss-20b").out)["deployment"]
    changed = sparkctl("--json", "plan", "solo", "gpt-oss-20b", "--set", "max-model-len=8192")
    data = json.loads(changed.out)
    assert data["deployment"]["recipe_hash"] != plain["recipe_hash"]
    assert "--max-model-len 8192" in data["phases"][2]["steps"][0]["script"]


def test_set_empty_value_removes_an_arg(sparkctl):
    outcome = sparkctl("plan", "solo", "gpt-oss-20b", "--set", "tool-call-parser=", "--set",
                       "enable-auto-tool-choice=false")
    assert outcome.code == 0, outcome.err
    assert "--tool-call-parser" not in outcome.out and "--enable-auto-tool-choice" not in outcome.out


def test_plain_env_override_reaches_the_container(sparkctl):
    outcome = sparkctl("plan", "solo", "gpt-oss-20b", "-e", "VLLM_LOGGING_LEVEL=DEBUG")
    assert "-e VLLM_LOGGING_LEVEL=DEBUG " in outcome.out


def test_custom_templates_dir_is_used(sparkctl, write, tmp_path):
    write("tpl/drop_caches.sh.j2", "echo custom-drop\n")
    outcome = sparkctl("--templates-dir", str(tmp_path / "tpl"), "plan", "solo", "gpt-oss-20b")
    assert outcome.code == 0, outcome.err
    assert "echo custom-drop" in outcome.out


def test_network_guard_catches_a_connection(no_network):
    import socket

    with pytest.raises(AssertionError, match="tried to connect"):
        socket.socket().connect(("192.0.2.1", 22))
    assert no_network == [("192.0.2.1", 22)]


@pytest.mark.parametrize("hostile", ["$(touch /tmp/pwned)", "a;b", "it's \"x\"", "a b", "x && y", "x | y"])
def test_hostile_set_and_env_values_stay_one_word(sparkctl, hostile):
    outcome = sparkctl("plan", "solo", "gpt-oss-20b", "--set", f"tool-call-parser={hostile}", "-e", f"HOSTILE={hostile}")
    assert outcome.code == 0, outcome.err
    tokens = next(shlex.split(line) for line in outcome.out.splitlines() if line.startswith("docker run -d"))
    assert f"HOSTILE={hostile}" in tokens
    assert tokens[tokens.index("--tool-call-parser") + 1] == hostile


def test_backticks_in_env_stay_one_word(sparkctl):
    outcome = sparkctl("plan", "solo", "gpt-oss-20b", "-e", "HOSTILE=`touch /tmp/pwned`")
    tokens = next(shlex.split(line) for line in outcome.out.splitlines() if line.startswith("docker run -d"))
    assert "HOSTILE=`touch /tmp/pwned`" in tokens


def test_recipe_file_name_that_is_not_a_label_safe_name(sparkctl, write, tmp_path):
    write("mine/a$(id).yaml", "model: m\ncontainer: c\n")
    outcome = sparkctl("--recipes-dir", str(tmp_path / "mine"), "plan", "solo", "a$(id)")
    assert outcome.code == 2 and "Traceback" not in outcome.err
    assert "not a valid name" in outcome.err


def test_false_turns_a_feature_off_with_its_no_form(sparkctl):
    outcome = sparkctl("plan", "solo", "gpt-oss-20b", "--set", "enable-prefix-caching=false", "--set", "enforce-eager=off")
    assert outcome.code == 0, outcome.err
    serve = next(line for line in outcome.out.splitlines() if line.startswith("docker run") and " serve " in line)
    words = shlex.split(serve)
    assert "--no-enable-prefix-caching" in words and "--enable-prefix-caching" not in words
    assert words[words.index("--enforce-eager") + 1] == "off", "YAML 1.2: only true/false are booleans"


def test_the_deployment_identity_follows_the_inventory_facts_that_shape_containers(sparkctl, write):
    import yaml

    base = yaml.safe_load((Path(__file__).resolve().parents[2] / "inventory.yaml").read_text())

    def deployment_id(**defaults) -> str:
        data = {**base, "defaults": {**base.get("defaults", {}), **defaults}}
        inventory = write(f"inv-{len(defaults)}-{'-'.join(map(str, defaults.values()))}.yaml", yaml.safe_dump(data))
        outcome = sparkctl("--json", "plan", "solo", "gpt-oss-20b", inventory=inventory)
        assert outcome.code == 0, outcome.err
        return json.loads(outcome.out)["deployment"]["id"]

    same = deployment_id()
    assert deployment_id(ssh_key="/tmp/other-key") == same, "how sparkctl connects is not what runs"
    assert deployment_id(api_port=8001) != same and deployment_id(mounts={"extra": "/data:/data"}) != same
