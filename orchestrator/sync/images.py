"""`sparkctl images sync`: make every node hold the recipe's image, identical by layer digests."""

from __future__ import annotations

from collections import Counter

from orchestrator.config.inventory import Node
from orchestrator.errors import ExecutionError, SparkctlError
from orchestrator.plan.data import Phase, PhaseKind, Plan, Step
from orchestrator.plan.templates import render
from orchestrator.remote import transfer
from orchestrator.report.events import Event
from orchestrator.sync import stream

GO_LAYERS = "{{json .RootFS.Layers}}"
MISSING = "missing"


def check_phase(nodes: tuple[Node, ...], image: str, templates_dir: str | None, name: str = "image-check") -> Phase:
    """Read each node's layer-digest identity of image in one round trip."""
    script = render("image_check", templates_dir, image=image, go_layers=GO_LAYERS)
    steps = tuple(Step(n.name, f"identify image {image}", script, 60) for n in nodes)
    return Phase(name, "Image check" if name == "image-check" else "Image verify", steps)


def plan_image_check(nodes: tuple[Node, ...], image: str, templates_dir: str | None = None) -> Plan:
    """The check alone."""
    return Plan(action="images-check", phases=(check_phase(nodes, image, templates_dir),))


def plan_image_sync(nodes: tuple[Node, ...], image: str, source: Node, targets: list[Node],
                    templates_dir: str | None = None) -> Plan:
    """Check, ship docker save | docker load from source to each target over the fabric, verify."""
    steps = tuple(_ship_step(source, target, image, templates_dir) for target in targets)
    phases = (check_phase(nodes, image, templates_dir), Phase("image-copy", "Image copy", steps, PhaseKind.TRANSFER),
              check_phase(nodes, image, templates_dir, "image-verify"))
    return Plan(action="images-sync", phases=phases if steps else phases[:1])


def _ship_step(source: Node, target: Node, image: str, templates_dir: str | None) -> Step:
    receive = render("image_receive", templates_dir, copier=stream.copier(), listen_ip=stream.fabric_ip(target))
    send = render("image_send", templates_dir, copier=stream.copier(), target_ip=stream.fabric_ip(target), image=image)
    return stream.transfer_step(source, target, f"image {image} from {source.name}", receive, send)


def identities(current, nodes: tuple[Node, ...], image: str) -> dict[str, str]:
    """Per node, the hash of its image's layer digests, or 'missing'."""
    report = current.run(plan_image_check(nodes, image, current.settings.templates_dir))
    return {name: facts.get("image_layers", MISSING) for name, facts in report.facts("image-check").items()}


def reference(found: dict[str, str], image: str) -> str:
    """The identity most nodes hold (first node wins a tie); refuse when no node has the image."""
    held = [value for value in found.values() if value != MISSING]
    if not held:
        raise ExecutionError(f"image {image} is on none of {', '.join(found)}: load it on one node "
                             "(docker load or docker pull), then run sparkctl images sync again")
    counts = Counter(held)
    return max(held, key=lambda v: (counts[v], -held.index(v)))


def sync_image(current, nodes: tuple[Node, ...], image: str, pool: tuple[Node, ...] = ()) -> list[stream.Transfer]:
    """Ship image from a node (of nodes or pool) that has it to each of nodes that lacks it; verify after."""
    everyone = tuple({n.name: n for n in (*nodes, *pool)}.values())
    try:
        found = identities(current, everyone, image)
    except SparkctlError:  # an unreachable node outside `nodes` is only a source we cannot use
        everyone, found = nodes, identities(current, nodes, image)
    wanted = reference(found, image)
    source = next(n for n in everyone if found[n.name] == wanted)
    targets = [n for n in nodes if found[n.name] != wanted]
    for name, value in found.items():
        state = "ok" if value == wanted else ("missing" if value == MISSING else f"different ({value})")
        current.emit(Event("progress", "images", name, f"{image}: {state}"))
    if not targets:
        return []
    plan = plan_image_sync(nodes, image, source, targets, current.settings.templates_dir)
    with transfer.stopping_on_interrupt():
        report = current.run(Plan(plan.action, plan.phases[1:]))
    wrong = [f"{name} ({facts.get('image_layers')})" for name, facts in report.facts("image-verify").items()
             if facts.get("image_layers") != wanted]
    if wrong:
        raise ExecutionError(f"image {image} still differs after shipping on: {', '.join(wrong)}")
    return stream.transfers(report, "image-copy")
