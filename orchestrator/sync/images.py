"""`sparkctl images sync`: make every node hold the recipe's image, identical by layer digests."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from orchestrator.config.inventory import Node
from orchestrator.errors import ExecutionError, SparkctlError
from orchestrator.plan.data import Phase, Plan, Step
from orchestrator.plan.templates import render
from orchestrator.report.events import Event
from orchestrator.sync import stream

GO_LAYERS = "{{json .RootFS.Layers}}"
MISSING = "missing"
SHIP_TIMEOUT = 3 * 3600.0


def plan_image_check(nodes: tuple[Node, ...], image: str, templates_dir: str | None = None) -> Plan:
    """Read each node's layer-digest identity of image in one round trip."""
    script = render("image_check", templates_dir, image=image, go_layers=GO_LAYERS)
    steps = tuple(Step(n.name, f"identify image {image}", script, 60) for n in nodes)
    return Plan(action="images-check", phases=(Phase("image-check", "Image check", steps),))


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
    transfers = _ship(current, source, targets, image)
    after = identities(current, nodes, image)
    wrong = [f"{name} ({value})" for name, value in after.items() if value != wanted]
    if wrong:
        raise ExecutionError(f"image {image} still differs after shipping on: {', '.join(wrong)}")
    return transfers


def _ship(current, source: Node, targets: list[Node], image: str) -> list[stream.Transfer]:
    templates_dir = current.settings.templates_dir

    def scripts(target: Node):
        def render_pair(port: int) -> tuple[str, str]:
            receive = render("image_receive", templates_dir, receiver=stream.RECEIVER,
                             listen_ip=target.fabric_ip or target.ip, wait=stream.ACCEPT_WAIT)
            send = render("image_send", templates_dir, image=image, sender=stream.SENDER,
                          target_ip=target.fabric_ip or target.ip, port=port)
            return receive, send
        return render_pair

    def ship(target: Node) -> stream.Transfer:
        current.emit(Event("progress", "images", target.name, f"receiving {image} from {source.name}"))
        def show(count: int, seconds: float) -> None:
            rate = stream.human_bytes(count / max(seconds, 1e-6))
            current.emit(Event("progress", "images", target.name, f"{stream.human_bytes(count)} at {rate}/s"))

        done = stream.relay(current.transport, source, target, scripts(target), SHIP_TIMEOUT, show)
        current.emit(Event("step-done", "images", target.name,
                           f"{image}: {stream.human_bytes(done.bytes)} from {source.name} at {done.rate}", done.seconds))
        return done

    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        return list(pool.map(ship, targets))
