"""`top`: a node's sample read from the node script's output, token rates between samples, the tables."""

from __future__ import annotations

import json
from dataclasses import replace

from orchestrator.ops.top import tables
from orchestrator.ops.top_sample import node_row, parse_sample, server_rows, started_epoch
from orchestrator.plan.top import sample_script
from orchestrator.remote.transport import Result

LABELS = {"sparkctl.deployment": "d1", "sparkctl.role": "solo", "sparkctl.served-name": "gpt-oss"}


def output(now: float, prompt: float, generation: float, running: float = 2) -> Result:
    container = {"name": "/sparkctl-vllm", "state": "running", "started": "2026-11-27T10:00:00.123456789Z",
                 "restarts": 1, "labels": LABELS}
    lines = [f"now={now}", "meminfo_MemAvailable=1048576", "meminfo_Cached=2097152", f"container={json.dumps(container)}",
             f'metric=sparkctl-vllm vllm:num_requests_running{{model_name="gpt-oss",engine="0"}} {running}',
             'metric=sparkctl-vllm vllm:num_requests_waiting{model_name="gpt-oss",engine="0"} 1.0',
             'metric=sparkctl-vllm vllm:kv_cache_usage_perc{model_name="gpt-oss",engine="0"} 0.25',
             f'metric=sparkctl-vllm vllm:prompt_tokens_total{{model_name="gpt-oss",engine="0"}} {prompt}',
             f'metric=sparkctl-vllm vllm:generation_tokens_total{{model_name="gpt-oss",engine="0"}} {generation}']
    return Result("spark1", 0, "\n".join(lines) + "\n", "", 0.1)


def test_sample_reads_memory_containers_and_metrics():
    sample = parse_sample(output(1795773600.5, 100, 50))
    row = node_row(sample)
    assert (row["mem_available_bytes"], row["page_cache_bytes"]) == (1 << 30, 2 << 30)
    assert row["containers"] == [{"name": "sparkctl-vllm", "deployment": "d1", "role": "solo", "state": "running",
                                  "uptime_s": round(1795773600.5 - started_epoch("2026-11-27T10:00:00.123456Z"), 1),
                                  "restarts": 1}]
    [server] = server_rows(sample, None)
    assert (server["running"], server["waiting"], server["kv_cache_usage"], server["model"]) == (2, 1, 0.25, "gpt-oss")
    assert server["prompt_tokens_per_s"] is None and server["generation_tokens_total"] == 50


def test_rates_come_from_counters_between_samples_on_the_node_clock():
    before, after = parse_sample(output(1000.0, 100, 50)), parse_sample(output(1002.0, 4100, 150))
    [server] = server_rows(after, before)
    assert (server["prompt_tokens_per_s"], server["generation_tokens_per_s"]) == (2000.0, 50.0)
    restarted = parse_sample(output(1003.0, 10, 5))
    assert server_rows(restarted, after)[0]["generation_tokens_per_s"] is None


def test_older_kv_gauge_name_and_engines_add_up():
    lines = ['now=1', 'metric=c vllm:gpu_cache_usage_perc{engine="0"} 0.5',
             'metric=c vllm:num_requests_running{engine="0"} 1', 'metric=c vllm:num_requests_running{engine="1"} 2']
    result = Result("n", 0, "\n".join(lines) + "\n", "", 0.1)
    [server] = server_rows(parse_sample(result), None)
    assert (server["kv_cache_usage"], server["running"]) == (0.5, 3)


def test_a_failed_scrape_is_named_and_never_started_has_no_uptime():
    result = Result("n", 0, "now=5\nscrape_failed=sparkctl-vllm curl: (7) Failed to connect\n", "", 0.1)
    [server] = server_rows(parse_sample(result), None)
    assert server["error"].startswith("curl: (7)") and server["running"] is None
    assert started_epoch("0001-01-01T00:00:00Z") is None


def test_tables_show_every_field_and_unreachable_nodes():
    before, after = parse_sample(output(1000.0, 100, 50)), parse_sample(output(1001.0, 2100, 100))
    view = {"time": "t", "nodes": [node_row(after)], "servers": server_rows(after, before), "unreachable": {"spark2": "x"}}
    (_, _, nodes), (_, _, servers) = tables(view)
    assert nodes[0][:3] == ["spark1", "1.0 GiB", "2.0 GiB"] and nodes[0][4:] == ["running", nodes[0][5], "1"]
    assert nodes[-1][:2] == ["spark2", "unreachable"]
    assert servers == [["d1", "spark1", "gpt-oss", "2", "1", "25.0%", "2000", "50"]]


def test_sample_script_quotes_its_values_and_scrapes_only_serving_containers():
    script = sample_script()
    assert "docker ps -aq --filter label=sparkctl.deployment" in script
    assert "'^vllm:(num_requests_running|" in script and '"sparkctl.api"' in script
    assert "http://127.0.0.1:$port/metrics" in script and "Authorization" not in script


class FakeSession:
    """Answers each sample plan from a script of which nodes answer; records which nodes it was asked."""

    def __init__(self, down: set[str], asked: list[tuple[str, ...]]):
        self.down, self.asked = down, asked

    def run(self, plan):
        from orchestrator.remote.executor import FAILED, Report

        nodes = tuple(step.node for step in plan.phases[0].steps)
        self.asked.append(nodes)
        answer = output(1000.0 + len(self.asked), 1, 1)
        return Report(results={"top": [Result(n, FAILED, "", "no answer", 0.0) if n in self.down
                                       else replace(answer, node=n) for n in nodes]})


def test_a_node_that_does_not_answer_is_left_out_then_retried_on_a_fresh_session(inventory, monkeypatch):
    import contextlib

    from orchestrator.ops import top as ops_top

    down, asked, opened = {"GoldFinger2"}, [], []

    @contextlib.contextmanager
    def open_session():
        opened.append(1)
        yield FakeSession(down, asked)

    with ops_top.Sampler(open_session, inventory.nodes) as sampler:
        first, second = sampler.view(), sampler.view()
        assert asked == [("GoldFinger", "GoldFinger2"), ("GoldFinger",)] and len(opened) == 1
        assert set(first["unreachable"]) == set(second["unreachable"]) == {"GoldFinger2"}
        assert [n["node"] for n in second["nodes"]] == ["GoldFinger"]
        down.clear()
        monkeypatch.setattr(ops_top, "RETRY_AFTER", 0.0)
        back = sampler.view()
    assert asked[-1] == ("GoldFinger", "GoldFinger2") and len(opened) == 2 and back["unreachable"] == {}
