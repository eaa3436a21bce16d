"""`sparkctl doctor` and `sparkctl init` at the command line: registration, refusals before any connection, output."""

from __future__ import annotations

import json

from cli_expect import assert_clean_failure

from orchestrator.config.inventory import Node
from orchestrator.ops import doctor
from orchestrator.ops.doctor_checks import Problem, Severity


def test_doctor_and_init_are_commands(sparkctl):
    outcome = sparkctl("--help")
    assert outcome.code == 0 and "doctor" in outcome.out and "init" in outcome.out
    assert "--image" in sparkctl("doctor", "--help").out
    assert "--yes" in sparkctl("init", "--help").out


def test_doctor_unknown_node_is_refused_before_connecting(sparkctl):
    assert_clean_failure(sparkctl("doctor", "--nodes", "Nope"), 2, "no node named 'Nope'", "GoldFinger")


def test_init_refuses_hostnames(sparkctl):
    assert_clean_failure(sparkctl("init", "spark-1.local", "--user", "root", inventory=None), 2, "mDNS")


def test_init_needs_addresses(sparkctl):
    outcome = sparkctl("init", inventory=None)
    assert outcome.code == 2 and "IPS" in outcome.err


def findings() -> doctor.Findings:
    return doctor.Findings(
        facts={"a": {"fabric_state": "up", "fabric_mtu": "9000", "rdma": "rocep1s0f1:ACTIVE:f0", "docker": "ok",
                     "image.0": "arm64", "arch": "aarch64"}},
        matrix={"a": {"b": False}, "b": {"a": True}},
        problems=[Problem("a <-> b", "reach", "a cannot reach b's fabric address 10.0.0.2", "check the cable"),
                  Problem("a", "clock", "a's clock is +9.0s off", "enable time sync", Severity.WARNING)],
        images=["vllm-node"])


NODES = (Node(name="a", ip="10.0.1.1", fabric_if="f0"), Node(name="b", ip="10.0.1.2"))


def test_doctor_table_shows_nodes_matrix_and_problems_with_fixes(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    doctor.show(False, NODES, findings(), 1.25)
    out = capsys.readouterr().out
    for text in ("sparkctl doctor: nodes", "f0 up", "vllm-node (arm64)", "FAIL", "no answer", "a <-> b",
                 "check the cable", "doctor: 1 error(s), 1 warning(s) on 2 node(s) in 1.2s"):
        assert text in out


def test_doctor_json_is_one_document(capsys):
    doctor.show(True, NODES, findings(), 1.0)
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False and document["fabric"]["a"]["b"] is False
    assert document["problems"][0] == {"where": "a <-> b", "check": "reach", "severity": "error",
                                       "message": "a cannot reach b's fabric address 10.0.0.2", "fix": "check the cable"}
