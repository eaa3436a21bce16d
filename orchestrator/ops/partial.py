"""Degraded mode for read and cleanup commands: do the work where nodes answer, then name the ones that did not."""

from __future__ import annotations

from orchestrator.errors import PartialFailure


def raise_if_partial(command: str, unreachable: dict[str, str], fix: str) -> None:
    """Exit 4 with each unreachable node and why, after the command did what it could."""
    if unreachable:
        lines = "\n".join(f"  {node}: {why.splitlines()[0] if why else 'no answer'}" for node, why in unreachable.items())
        raise PartialFailure(f"{command}: {len(unreachable)} node(s) could not be reached; {fix}:\n{lines}")
