"""`sparkctl models sync`: one hub download, then node-to-node copies of only what each node lacks."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from orchestrator.config.inventory import Node
from orchestrator.errors import ExecutionError, SparkctlError
from orchestrator.plan.data import Phase, Plan, Step
from orchestrator.plan.hfcache import CHECKER, DOWNLOADER, CacheState, blob_bytes, missing_paths, repo_dir
from orchestrator.plan.templates import render
from orchestrator.report.events import Event
from orchestrator.sync import stream

HUB_ENV = ("HF_TOKEN", "HF_ENDPOINT")
DOWNLOAD_TIMEOUT = 6 * 3600.0
COPY_TIMEOUT = 6 * 3600.0


def hub_env() -> dict[str, str]:
    """HF_TOKEN (a secret) and HF_ENDPOINT from the operator's environment, delivered on stdin."""
    return {name: os.environ[name] for name in HUB_ENV if os.environ.get(name)}


def plan_model_check(nodes: tuple[Node, ...], model: str, revision: str, templates_dir: str | None = None) -> Plan:
    """Read what each node's cache holds of model at revision, in one round trip per node."""
    script = render("model_check", templates_dir, checker=CHECKER, repo_dir=repo_dir(model), revision=revision)
    steps = tuple(Step(n.name, f"check the cache of {model}", script, 120) for n in nodes)
    return Plan(action="models-check", phases=(Phase("model-check", "Model check", steps),))


def plan_download(node: Node, model: str, revision: str, image: str, templates_dir: str | None = None) -> Plan:
    """Download model once on node with huggingface_hub in the recipe's image."""
    env = [word for name in HUB_ENV for word in ("-e", name)]
    script = render("model_download", templates_dir, env=env, image=image, downloader=DOWNLOADER, model=model,
                    revision=revision)
    step = Step(node.name, f"download {model} from the hub", script, DOWNLOAD_TIMEOUT, secrets=HUB_ENV)
    return Plan(action="models-download", phases=(Phase("model-download", "Model download", (step,)),))


def states(current, nodes: tuple[Node, ...], model: str, revision: str) -> dict[str, CacheState]:
    """Every node's cache state of the model."""
    report = current.run(plan_model_check(nodes, model, revision, current.settings.templates_dir))
    return {r.node: CacheState.parse(r.node, r.stdout) for r in report.results["model-check"]}


def is_complete(state: CacheState, source: CacheState) -> bool:
    """Same commit as the source and nothing missing against its manifest."""
    return state.commit == source.commit and not state.problems(source.manifest)


def sync_model(current, nodes: tuple[Node, ...], model: str, revision: str | None, image: str,
               pool: tuple[Node, ...] = ()) -> list[stream.Transfer]:
    """Make each of nodes hold a complete snapshot: copy from any node of nodes or pool, else download once."""
    revision = revision or "main"
    try:
        found = states(current, tuple({n.name: n for n in (*nodes, *pool)}.values()), model, revision)
    except SparkctlError:  # an unreachable node outside `nodes` is only a source we cannot use
        found = states(current, nodes, model, revision)
    source = next((s for s in found.values() if s.complete), None)
    if source is None:
        source = _download(current, nodes, model, revision, image, found)
    targets = [n for n in nodes if not is_complete(found[n.name], source)]
    for name, state in ((n.name, found[n.name]) for n in nodes):
        problems = [] if is_complete(state, source) else state.problems(source.manifest) or ["other revision"]
        current.emit(Event("progress", "models", name, f"{model}: " + ("complete" if not problems else
                                                                     f"needs copy ({_summary(problems)})")))
    if not targets:
        return []
    transfers = _copy(current, current.inventory.node(source.node), targets, model, source, found)
    _verify(current, nodes, model, revision, source)
    return transfers


def _download(current, nodes, model, revision, image, found) -> CacheState:
    node = max(nodes, key=lambda n: sum(found[n.name].blobs.values()))
    current.emit(Event("progress", "models", node.name, f"no node holds all of {model}; downloading on {node.name}"))
    step = plan_download(node, model, revision, image, current.settings.templates_dir).phases[0].steps[0]
    secrets = {name: value for name, value in current.executor.secrets.items() if name in step.secrets}
    result = current.transport.run(node, step.script, step.timeout, secrets)
    if not result.ok:
        raise ExecutionError(f"download of {model} on {node.name} failed: {_download_error(result)}; "
                             "run models sync again to resume")
    state = states(current, (node,), model, revision)[node.name]
    found[node.name] = state
    if not state.complete:
        raise ExecutionError(f"{node.name}: {model} still incomplete after the download: {_summary(state.problems())}")
    return state


def _copy(current, source: Node, targets: list[Node], model: str, state: CacheState,
          found: dict[str, CacheState]) -> list[stream.Transfer]:
    templates_dir = current.settings.templates_dir

    def ship(target: Node) -> stream.Transfer:
        paths = missing_paths(model, state, found[target.name])
        size = stream.human_bytes(blob_bytes(state.manifest, found[target.name]))
        current.emit(Event("progress", "models", target.name, f"copying {size} of {model} from {source.name} "
                                                              "over the fabric"))
        fabric_ip = target.fabric_ip or target.ip

        def scripts(port: int) -> tuple[str, str]:
            receive = render("model_receive", templates_dir, receiver=stream.RECEIVER, listen_ip=fabric_ip,
                             wait=stream.ACCEPT_WAIT)
            send = render("model_send", templates_dir, paths=paths, sender=stream.SENDER, target_ip=fabric_ip, port=port)
            return receive, send

        done = stream.relay(current.transport, source, target, scripts, COPY_TIMEOUT, _progress(current, target, size))
        current.emit(Event("step-done", "models", target.name,
                           f"{model}: {stream.human_bytes(done.bytes)} from {source.name} at {done.rate}", done.seconds))
        return done

    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        return list(pool.map(ship, targets))


def _progress(current, target: Node, size: str):
    def show(count: int, seconds: float) -> None:
        rate = stream.human_bytes(count / max(seconds, 1e-6))
        current.emit(Event("progress", "models", target.name, f"{stream.human_bytes(count)} of {size} at {rate}/s"))
    return show


def _verify(current, nodes, model, revision, source: CacheState) -> None:
    after = states(current, nodes, model, revision)
    bad = {name: s.problems(source.manifest) or ["other revision"] for name, s in after.items()
           if not is_complete(s, source)}
    if bad:
        listed = "; ".join(f"{name}: {_summary(p)}" for name, p in bad.items())
        raise ExecutionError(f"{model} incomplete after the copy on {listed}; run models sync again to resume")


def _download_error(result) -> str:
    """The downloader's own message: stderr before the error trap's echo of the (long) command."""
    lines = result.stderr.split("\nsparkctl: failed", 1)[0].splitlines()
    said = [line.strip() for line in lines if line.strip()]
    return "; ".join(said[-3:]) or ("timed out" if result.timed_out else f"exit {result.exit_code}")


def _summary(problems: list[str]) -> str:
    return ", ".join(problems[:3]) + (f" and {len(problems) - 3} more" if len(problems) > 3 else "")
