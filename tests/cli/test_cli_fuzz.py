"""Fuzz: hundreds of malformed recipes and inventories through the real CLI; none may crash or go unnamed."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_cases import Case, base_file, cases, cli_args

SEED = 20240611
BATCHES = 12
PER_BATCH = 50


def _check(sparkctl, tmp_path: Path, case: Case) -> str | None:
    """What is wrong with how sparkctl handled case, or None."""
    recipes, inventory = tmp_path / "recipes", tmp_path / "inventory.yaml"
    recipes.mkdir(exist_ok=True)
    recipe = recipes / "fuzz.yaml"
    recipe.write_bytes(case.content if case.target == "recipe" else base_file("recipe", case.topology))
    inventory.write_bytes(case.content if case.target == "inventory" else base_file("inventory", case.topology))
    outcome = sparkctl("--recipes-dir", str(recipes), "plan", case.topology, "fuzz", inventory=inventory)
    mutated = recipe if case.target == "recipe" else inventory
    if "Traceback" in outcome.out + outcome.err:
        return "traceback"
    if outcome.code == 0:
        return None
    # Lint refusals list one rule per line by design.
    if not outcome.err.startswith("error: ") or (outcome.err.count("\n") > 1 and outcome.code != 3):
        return f"not one 'error:' line: {outcome.err[:300]!r}"
    if str(mutated) not in outcome.err and not _names_recipe(outcome.err, case):
        return f"refusal does not name {mutated.name}: {outcome.err[:300]!r}"
    if len(outcome.err) > 1000:
        return f"refusal of {len(outcome.err)} characters"
    return None


def _names_recipe(err: str, case: Case) -> bool:
    """Topology refusals are about the recipe and the nodes together: they name the recipe, not a file."""
    return case.target == "recipe" and "recipe 'fuzz'" in err


@pytest.mark.parametrize("batch", range(BATCHES))
def test_malformed_files_are_refused_cleanly(sparkctl, tmp_path, batch):
    generated = cases(SEED + batch, PER_BATCH)
    problems = []
    for index, case in enumerate(generated):
        try:
            problem = _check(sparkctl, tmp_path, case)
        except Exception as exc:  # noqa: BLE001 - any escape from the CLI's error boundary is the finding
            problem = f"{type(exc).__name__} escaped the CLI: {str(exc)[:200]}"
        if problem:
            problems.append(f"seed {SEED + batch} case {index} {case.target}/{case.kind} ({case.topology}): {problem}")
    assert not problems, "\n".join(problems[:10])


def test_fuzz_covers_every_mutation():
    kinds = {case.kind for batch in range(BATCHES) for case in cases(SEED + batch, PER_BATCH)}
    assert len(kinds) >= 20, sorted(kinds)
    assert BATCHES * PER_BATCH >= 500


def test_hostile_command_lines_never_crash(sparkctl, write):
    inventory = write("inventory.yaml", base_file("inventory", "solo").decode())
    problems = []
    for index, argv in enumerate(cli_args(SEED, 150)):
        try:
            outcome = sparkctl(*argv, inventory=inventory)
        except Exception as exc:  # noqa: BLE001 - any escape from the CLI's error boundary is the finding
            problems.append(f"case {index} {argv!r:.300}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if outcome.code not in (0,) and not outcome.err.startswith(("error: ", "Error: ", "Usage: ")):
            problems.append(f"case {index} {argv!r:.300}: {outcome.err[:300]!r}")
    assert not problems, "\n".join(problems[:10])
