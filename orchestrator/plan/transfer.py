"""A node-to-node copy as plan data: the receiving script on the target, the sending one on the source."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.plan.data import Step

PORT_ENV = "SPARKCTL_COPY_PORT"
TOKEN_ENV = "SPARKCTL_COPY_TOKEN"


@dataclass(frozen=True)
class TransferStep(Step):
    """`script` receives on `node`; `send` runs on `source` with the receiver's port and token on stdin."""

    source: str = ""
    send: str = ""
    target_ip: str = ""
    link: str = "fabric"


def shown(step: Step) -> list[str]:
    """The lines plan_text prints for a step: the sender's side too for a transfer."""
    lines = [f"# [{step.node}] {step.description} (timeout {step.timeout:g}s)", step.script.rstrip("\n")]
    if isinstance(step, TransferStep):
        lines += [f"# [{step.source}] send to {step.node} at {step.target_ip} over the {step.link} link "
                  f"({PORT_ENV} and {TOKEN_ENV} from the receiver, on stdin)", step.send.rstrip("\n")]
    return lines
