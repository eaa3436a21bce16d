"""Imports point down only: cli -> ops/bench/sync -> remote -> plan -> config -> report/errors.

Every import counts: at module level, inside functions and under TYPE_CHECKING alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "orchestrator"
# Higher imports lower; equal levels are separate features and import neither each other.
LEVELS = {"cli": 5, "ops": 4, "bench": 4, "sync": 4, "remote": 3, "plan": 2, "config": 1, "report": 0, "errors": 0}


def layer_of(module: str) -> str | None:
    """The layer of a dotted orchestrator module name, or None outside the package."""
    parts = module.split(".")
    if parts[0] != "orchestrator" or len(parts) < 2:
        return None
    return parts[1].removesuffix(".py")


def imported_modules(node: ast.AST) -> list[str]:
    """The orchestrator modules one import statement names (`from orchestrator import x` names x)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        if node.module == "orchestrator":
            return [f"orchestrator.{alias.name}" for alias in node.names]
        return [node.module]
    return []


def upward_imports(package: Path) -> list[str]:
    """`file:line: layer imports layer` for every import that does not point down."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        own = path.relative_to(package).parts[0].removesuffix(".py")
        if own not in LEVELS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for module in imported_modules(node):
                other = layer_of(module)
                if other is None or other == own:
                    continue
                if other not in LEVELS or LEVELS[other] >= LEVELS[own]:
                    problems.append(f"{path}:{node.lineno}: {own} imports {module} ({other})")
    return problems


def test_the_package_imports_only_downwards():
    assert upward_imports(PACKAGE) == []


def test_every_layer_is_known():
    tops = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.name != "__init__.py" and not p.name.startswith("_")}
    assert tops <= set(LEVELS), f"unknown layers {tops - set(LEVELS)}: add them to LEVELS"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "orchestrator" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "orchestrator"


def test_an_upward_import_inside_a_function_is_named_with_its_line(tmp_path):
    package = _tree(tmp_path, {
        "config/recipe.py": "import json\n\n\ndef load():\n    from orchestrator.plan import planner\n",
        "plan/planner.py": "from orchestrator.config.recipe import load\n",
    })
    assert upward_imports(package) == [f"{package}/config/recipe.py:5: config imports orchestrator.plan (plan)"]


def test_sideways_and_type_checking_imports_are_refused(tmp_path):
    package = _tree(tmp_path, {
        "bench/run.py": "from orchestrator.ops import up\n",
        "report/console.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from orchestrator.config.rules import Finding\n"),
        "cli/main.py": "from orchestrator import errors\nfrom orchestrator.ops import up\n",
    })
    assert upward_imports(package) == [
        f"{package}/bench/run.py:1: bench imports orchestrator.ops (ops)",
        f"{package}/report/console.py:3: report imports orchestrator.config.rules (config)",
    ]
