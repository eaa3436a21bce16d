"""`up cluster --backend mp`: vLLM's own multi-node launch, and clusters of 3 to 8 Sparks, planned without a node."""

from __future__ import annotations

import json
import shlex

import yaml


def _inventory(write, count: int):
    nodes = [{"name": f"spark{i}", "ip": f"192.168.3.{10 + i}", "fabric_ip": f"192.168.100.{10 + i}",
              "fabric_if": "enp1s0f1np1", "rdma_dev": "rocep1s0f1,roceP2p1s0f1"} for i in range(1, count + 1)]
    return write(f"inv{count}.yaml", yaml.safe_dump({"nodes": nodes}))


def _plan(sparkctl, *args: str, inventory=None) -> dict:
    outcome = sparkctl("--json", "plan", *args, inventory=inventory) if inventory else sparkctl("--json", "plan", *args)
    assert outcome.code == 0, outcome.err
    return json.loads(outcome.out)


def _serve_words(step: dict) -> list[str]:
    line = next(line for line in step["script"].splitlines() if line.startswith("docker run"))
    words = shlex.split(line)
    return words[words.index("serve"):]


def test_mp_starts_rank_0_then_the_headless_ranks_then_waits_for_the_rendezvous(sparkctl):
    plan = _plan(sparkctl, "cluster", "openai-gpt-oss-120b-cluster", "--backend", "mp")
    assert [p["name"] for p in plan["phases"]] == ["preflight", "drop-caches", "rank-0", "ranks", "rank-gate", "readiness",
                                                   "restart-policy"]
    assert plan["deployment"]["backend"] == "mp" and ".cluster-mp." in plan["deployment"]["id"]
    head, worker = plan["phases"][2]["steps"][0], plan["phases"][3]["steps"][0]
    assert _serve_words(head)[-8:] == ["--nnodes", "2", "--node-rank", "0", "--master-addr", "192.168.100.10",
                                       "--master-port", "29501"]
    assert _serve_words(worker)[-9:] == ["--nnodes", "2", "--node-rank", "1", "--master-addr", "192.168.100.10",
                                         "--master-port", "29501", "--headless"]
    scripts = "\n".join(s["script"] for p in plan["phases"] for s in p["steps"])
    assert "ray " not in scripts and "RAY_" not in scripts and "--distributed-executor-backend" not in scripts
    assert plan["secrets"] == {"VLLM_API_KEY": "***"}


def test_ray_stays_the_default_and_runs_with_token_auth_and_both_roce_devices(sparkctl, write):
    plan = _plan(sparkctl, "cluster", "openai-gpt-oss-120b-cluster", inventory=_inventory(write, 2))
    assert plan["deployment"]["backend"] == "ray" and "ray-gate" in [p["name"] for p in plan["phases"]]
    head = next(p for p in plan["phases"] if p["name"] == "ray-head")["steps"][0]["script"]
    assert "-e RAY_AUTH_MODE=token" in head and "-e RAY_AUTH_TOKEN " in head
    assert "-e NCCL_IB_HCA=rocep1s0f1,roceP2p1s0f1" in head and "--device /dev/infiniband --cap-add IPC_LOCK" in head


def test_the_backend_is_for_clusters_only(sparkctl):
    outcome = sparkctl("plan", "solo", "gpt-oss-20b", "--backend", "mp")
    assert outcome.code == 2 and "--backend mp is for 'up cluster'" in outcome.err


def test_eight_sparks_tp8_and_four_sparks_tp2_pp2_on_both_backends(sparkctl, write):
    for count, sets in ((8, ("--set", "tensor-parallel-size=8")),
                        (4, ("--set", "tensor-parallel-size=2", "--set", "pipeline-parallel-size=2"))):
        inventory = _inventory(write, count)
        for backend in ("ray", "mp"):
            plan = _plan(sparkctl, "cluster", "openai-gpt-oss-120b-cluster", *sets, "--backend", backend,
                         inventory=inventory)
            assert plan["deployment"]["nodes"] == [f"spark{i}" for i in range(1, count + 1)]
            gate = next(p for p in plan["phases"] if p["kind"] == "gate")["steps"][0]["gate"]
            assert len(gate["expected_ips"]) == count and gate["min_gpus"] == count
