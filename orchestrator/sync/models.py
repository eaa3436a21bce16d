"""`sparkctl models sync`: one hub download, then node-to-node copies of only what each node lacks."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from orchestrator.config.inventory import Node
from orchestrator.errors import ExecutionError, SparkctlError
from orchestrator.plan.data import Phase, PhaseKind, Plan, Step
from orchestrator.plan.hfcache import CHECKER, DOWNLOADER, CacheState, blob_bytes, repo_dir
from orchestrator.plan.templates import render
from orchestrator.remote import transfer
from orchestrator.report.events import Event
from orchestrator.sync import stream

HUB_ENV = ("HF_TOKEN", "HF_ENDPOINT")
DOWNLOAD_TIMEOUT = 6 * 3600.0
VERIFY_TIMEOUT = 3600.0


@dataclass(frozen=True)
class SyncOptions:
    """How models sync copies: content re-check first, stray removal, streams per copy, MiB/s cap (0: none)."""

    verify: bool = False
    prune: bool = False
    streams: int = 4
    bwlimit: float = 0.0


@dataclass(frozen=True)
class Job:
    """What every phase builder needs to know about one model."""

    model: str
    revision: str
    image: str
    templates_dir: str | None = None
    options: SyncOptions = SyncOptions()


def hub_env() -> dict[str, str]:
    """HF_TOKEN (a secret) and HF_ENDPOINT from the operator's environment, delivered on stdin."""
    return {name: os.environ[name] for name in HUB_ENV if os.environ.get(name)}


@cache
def verifier() -> str:
    """The content verifier program's text."""
    return (Path(__file__).parent / "programs" / "verifier.py").read_text()


def check_phase(nodes: tuple[Node, ...], job: Job, name: str = "model-check") -> Phase:
    """Read what each node's cache holds of the model, in one round trip per node."""
    script = render("model_check", job.templates_dir, checker=CHECKER, repo_dir=repo_dir(job.model), revision=job.revision)
    steps = tuple(Step(n.name, f"check the cache of {job.model}", script, 120) for n in nodes)
    return Phase(name, "Model check" if name == "model-check" else "Model verify", steps)


def content_phase(nodes: tuple[Node, ...], job: Job) -> Phase:
    """Re-hash every node's blobs in parallel, removing those that differ (models sync --verify)."""
    script = render("model_verify", job.templates_dir, verifier=verifier(), repo_dir=repo_dir(job.model),
                    revision=job.revision)
    steps = tuple(Step(n.name, f"re-hash the blobs of {job.model}", script, VERIFY_TIMEOUT) for n in nodes)
    return Phase("model-content", "Model content check (sha256 of every blob)", steps)


def download_phase(node: Node, job: Job, only_if: str = "") -> Phase:
    """Download the model once on node with huggingface_hub in the recipe's image."""
    env = [word for name in HUB_ENV for word in ("-e", name)]
    script = render("model_download", job.templates_dir, env=env, image=job.image, downloader=DOWNLOADER,
                    model=job.model, revision=job.revision)
    step = Step(node.name, f"download {job.model} from the hub{only_if}", script, DOWNLOAD_TIMEOUT, secrets=HUB_ENV)
    return Phase("model-download", "Model download", (step,))


def copy_phase(source: Node, targets: list[Node], job: Job, found: dict[str, CacheState] | None = None) -> Phase:
    """One transfer per target from source over the fabric; each blob sha256-checked as it arrives."""
    steps = tuple(_copy_step(source, target, job, found) for target in targets)
    return Phase("model-copy", "Model copy", steps, PhaseKind.TRANSFER)


def _copy_step(source: Node, target: Node, job: Job, found: dict[str, CacheState] | None) -> Step:
    base, ip = repo_dir(job.model), stream.fabric_ip(target)
    receive = render("model_receive", job.templates_dir, copier=stream.copier(), listen_ip=ip, repo_dir=base)
    send = render("model_send", job.templates_dir, copier=stream.copier(), target_ip=ip, repo_dir=base,
                  revision=job.revision, streams=job.options.streams, bwlimit=job.options.bwlimit)
    state = found and found.get(source.name)
    what = (f"{stream.human_bytes(blob_bytes(state.manifest, found[target.name]))} of {job.model}" if state
            else f"{job.model} (only the blobs {target.name} lacks)")
    return stream.transfer_step(source, target, f"copy {what} from {source.name}", receive, send)


def prune_phase(strays: dict[str, list[str]], commit: str, job: Job) -> Phase:
    """Remove snapshot files the manifest does not list, on the nodes that have some."""
    steps = tuple(Step(node, f"remove {len(paths)} stray files from the snapshot", render(
        "model_prune", job.templates_dir, repo_dir=repo_dir(job.model), commit=commit, paths=paths), 60)
        for node, paths in strays.items())
    return Phase("model-prune", "Model prune", steps)


def plan_model_sync(nodes: tuple[Node, ...], job: Job) -> Plan:
    """Every phase a sync of a fresh cluster runs: the first node downloads, the others copy from it."""
    first, rest = nodes[0], list(nodes[1:])
    phases = [content_phase(nodes, job)] if job.options.verify else []
    phases += [check_phase(nodes, job), download_phase(first, job, " (skipped when a node holds it complete)")]
    phases += [copy_phase(first, rest, job), check_phase(nodes, job, "model-verify")] if rest else []
    return Plan(action="models-sync", phases=tuple(phases))


def plan_model_check(nodes: tuple[Node, ...], model: str, revision: str, templates_dir: str | None = None) -> Plan:
    """The check alone."""
    return Plan(action="models-check", phases=(check_phase(nodes, Job(model, revision, "", templates_dir)),))


def states(current, nodes: tuple[Node, ...], job: Job, name: str = "model-check") -> dict[str, CacheState]:
    """Every node's cache state of the model."""
    report = current.run(Plan("models-check", (check_phase(nodes, job, name),)))
    return {r.node: CacheState.parse(r.node, r.stdout) for r in report.results[name]}


def is_complete(state: CacheState, source: CacheState) -> bool:
    """Same commit as the source and nothing missing against its manifest."""
    return state.commit == source.commit and not state.problems(source.manifest)


def sync_model(current, nodes: tuple[Node, ...], model: str, revision: str | None, image: str,
               pool: tuple[Node, ...] = (), options: SyncOptions = SyncOptions()) -> list[stream.Transfer]:
    """Make each of nodes hold a complete snapshot: copy from any node of nodes or pool, else download once."""
    job = Job(model, revision or "main", image, current.settings.templates_dir, options)
    with transfer.stopping_on_interrupt():
        if options.verify:
            _check_content(current, nodes, job)
        found = _found(current, nodes, pool, job)
        source = next((s for s in found.values() if s.complete), None) or _download(current, nodes, job, found)
        _tidy(current, nodes, found, source, job)
        targets = [n for n in nodes if not is_complete(found[n.name], source)]
        for name, state in ((n.name, found[n.name]) for n in nodes):
            problems = [] if is_complete(state, source) else state.problems(source.manifest) or ["other revision"]
            current.emit(Event("progress", "models", name, f"{model}: " + (
                f"needs copy ({_summary(problems)})" if problems else "complete")))
        if not targets:
            return []
        report = current.run(Plan("models-sync", (copy_phase(current.inventory.node(source.node), targets, job, found),
                                                  check_phase(nodes, job, "model-verify"))))
    _verify(report, job, source)
    return stream.transfers(report, "model-copy")


def _found(current, nodes, pool, job: Job) -> dict[str, CacheState]:
    try:
        return states(current, tuple({n.name: n for n in (*nodes, *pool)}.values()), job)
    except SparkctlError:  # an unreachable node outside `nodes` is only a source we cannot use
        return states(current, nodes, job)


def _check_content(current, nodes, job: Job) -> None:
    report = current.run(Plan("models-verify", (content_phase(nodes, job),)))
    for node, facts in report.facts("model-content").items():
        bad = json.loads(facts.get("bad", "[]"))
        message = (f"{len(bad)} files differ from their sha256 and were removed: {_summary(bad)}" if bad
                   else f"{facts.get('hashed', 0)} blobs match their sha256")
        current.emit(Event("progress", "models", node, f"{job.model}: {message}"))


def _tidy(current, nodes, found: dict[str, CacheState], source: CacheState, job: Job) -> None:
    """Report snapshot files the manifest does not list; remove them only with --prune."""
    strays = {n.name: found[n.name].strays(source.manifest) for n in nodes if found[n.name].commit == source.commit}
    strays = {node: paths for node, paths in strays.items() if paths}
    for node, paths in strays.items():
        what = "removing" if job.options.prune else "left alone (--prune removes them)"
        current.emit(Event("progress", "models", node, f"{job.model}: files not in the manifest, {what}: {_summary(paths)}"))
    if strays and job.options.prune:
        current.run(Plan("models-prune", (prune_phase(strays, source.commit, job),)))


def _download(current, nodes, job: Job, found) -> CacheState:
    node = max(nodes, key=lambda n: sum(found[n.name].blobs.values()))
    current.emit(Event("progress", "models", node.name, f"no node holds all of {job.model}; downloading on {node.name}"))
    try:
        current.run(Plan("models-download", (download_phase(node, job),)))
    except ExecutionError as exc:
        raise ExecutionError(f"{exc}\n  run models sync again to resume") from None
    state = states(current, (node,), job)[node.name]
    found[node.name] = state
    if not state.complete:
        raise ExecutionError(f"{node.name}: {job.model} still incomplete after the download: {_summary(state.problems())}")
    return state


def _verify(report, job: Job, source: CacheState) -> None:
    after = {r.node: CacheState.parse(r.node, r.stdout) for r in report.results["model-verify"]}
    bad = {name: s.problems(source.manifest) or ["other revision"] for name, s in after.items()
           if not is_complete(s, source)}
    if bad:
        listed = "; ".join(f"{name}: {_summary(p)}" for name, p in bad.items())
        raise ExecutionError(f"{job.model} incomplete after the copy on {listed}; run models sync again to resume")


def _summary(problems: list[str]) -> str:
    return ", ".join(problems[:3]) + (f" and {len(problems) - 3} more" if len(problems) > 3 else "")
