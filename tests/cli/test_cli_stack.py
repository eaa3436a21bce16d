"""`apply`, `diff`, `down --stack`: a bad or infeasible stack is refused before any connection."""

from __future__ import annotations

THREE = """
nodes:
  - {name: s1, ip: 192.0.2.1}
  - {name: s2, ip: 192.0.2.2}
  - {name: s3, ip: 192.0.2.3}
"""
STACK = """
deployments:
  - {name: small, recipe: gpt-oss-20b, topology: solo, nodes: [s3]}
  - {name: nano, recipe: nemotron-3-nano-nvfp4, topology: solo, nodes: [s3], memory: 0.4}
"""


def test_memory_over_budget_is_refused_naming_node_and_numbers(sparkctl, write, isolated, no_network):
    inventory, stack = write("inv.yaml", THREE), write("lab.yaml", STACK)
    for command in ("apply", "diff"):
        outcome = sparkctl(command, str(stack), "--yes", inventory=inventory) if command == "apply" else \
            sparkctl(command, str(stack), inventory=inventory)
        assert outcome.code == 2
        assert f"{stack}: node s3 cannot hold 'nano'" in outcome.err
        assert "0.50 (small) + 0.40 (nano) = 0.90, over its memory budget of 0.85" in outcome.err
    assert no_network == []


def test_two_fixed_ports_on_a_node_are_refused(sparkctl, write, isolated):
    stack = write("work/stack.yaml", STACK.replace("nodes: [s3]}", "nodes: [s3], memory: 0.3, port: 9000}").replace(
        "memory: 0.4}", "memory: 0.4, port: 9000}"))
    outcome = sparkctl("apply", "--yes", inventory=write("inv.yaml", THREE))  # ./stack.yaml by default
    assert outcome.code == 2 and "port 9000 on s3 is asked for by both 'small' and 'nano'" in outcome.err
    assert str(stack.name) in outcome.err


def test_a_typo_in_the_stack_names_file_line_and_fix(sparkctl, write, isolated):
    stack = write("lab.yaml", STACK.replace("topology: solo, nodes", "topolgy: solo, nodes", 1))
    outcome = sparkctl("diff", "--stack", str(stack), inventory=write("inv.yaml", THREE))
    assert outcome.code == 2
    assert f"{stack}:2: deployments.0.topolgy: unknown key (did you mean 'topology'?)" in outcome.err


def test_an_unknown_node_names_the_deployment(sparkctl, write, isolated):
    stack = write("lab.yaml", STACK.replace("nodes: [s3]}", "nodes: [s9]}", 1))
    outcome = sparkctl("diff", str(stack), inventory=write("inv.yaml", THREE))
    assert outcome.code == 2 and "deployment 'small': " in outcome.err and "no node named 's9'" in outcome.err


def test_no_stack_file_says_how_to_give_one(sparkctl, write, isolated):
    outcome = sparkctl("apply", inventory=write("inv.yaml", THREE))
    assert outcome.code == 2 and "stack.yaml: stack file not found (pass a stack file, or --stack FILE)" in outcome.err
    both = sparkctl("down", "--stack", "x.yaml", "--nodes", "s1", inventory=write("inv.yaml", THREE))
    assert both.code != 0 and "not both" in both.err


def test_schema_stack_describes_the_entries(sparkctl):
    outcome = sparkctl("schema", "stack", inventory=None)
    assert outcome.code == 0 and '"memory"' in outcome.out and '"deployments"' in outcome.out
