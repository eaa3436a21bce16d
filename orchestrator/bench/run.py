"""`sparkctl bench`: find the live deployment, run llama-benchy against it, store the result with provenance."""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from orchestrator.bench import store, tool
from orchestrator.bench.http import http_json, http_problem
from orchestrator.bench.report import compare_tables
from orchestrator.config import keys
from orchestrator.config.inventory import Node, find_inventory
from orchestrator.errors import ConfigError, ExecutionError, PartialFailure, SparkctlError
from orchestrator.plan.data import Phase, Plan, Step
from orchestrator.plan.templates import render
from orchestrator.remote.session import session
from orchestrator.remote.state import Container, selected
from orchestrator.report import console

SERVING_ROLES = ("head", "solo", "replica")
REPLICA_API_LABEL = "sparkctl.api"
GO_IMAGE = "{{.Config.Image}}"
GO_LAYERS = "{{json .RootFS.Layers}}"


@dataclass(frozen=True)
class Target:
    """The deployment a benchmark measures, as its containers' labels describe it."""

    deployment: str
    recipe: str
    recipe_hash: str
    topology: str
    nodes: tuple[str, ...]
    endpoint: str
    served_name: str
    via: str


@dataclass(frozen=True)
class Request:
    """A `sparkctl bench` invocation after parsing: None means the recipe's default."""

    pp: tuple[int, ...] | None = None
    tg: tuple[int, ...] | None = None
    depth: tuple[int, ...] | None = None
    concurrency: tuple[int, ...] | None = None
    runs: int | None = None
    tokenizer: str | None = None
    book: str | None = None
    book_url: str | None = None
    drop_caches: bool = False
    skip_coherence: bool = False
    deployment: str | None = None


def find_target(live: list[Container], name: str | None = None) -> Target:
    """The proxy of replicas, else the head of a cluster or the solo node; refuse when ambiguous or absent.

    name picks one deployment of several (a stack's deployment name or an id).
    """
    running = [c for c in selected(live, name) if c.running]
    if not running:
        raise ConfigError("no deployment is running (nothing to benchmark); start one with 'sparkctl up ...'")
    if len({c.deployment for c in running}) > 1:
        found = ", ".join(sorted({c.deployment for c in running}))
        raise ConfigError(f"several deployments are running ({found}); name one with --deployment "
                          "(a stack's deployment name or an id)")
    by_role = {c.labels.get("sparkctl.role"): c for c in running}
    entry = by_role.get("proxy") or next((by_role[r] for r in SERVING_ROLES if r in by_role), None)
    if entry is None or not entry.labels.get("sparkctl.endpoint"):
        raise ConfigError(f"deployment {running[0].deployment} has no serving container running "
                          f"(roles: {', '.join(sorted(filter(None, by_role)))}); check 'sparkctl status'")
    labels = entry.labels
    role = labels.get("sparkctl.role", "")
    if role == "replica":
        console.warn("warning: the proxy of these replicas is not running: measuring one replica only")
    endpoint = labels.get(REPLICA_API_LABEL) if role == "replica" else None
    return Target(entry.deployment, labels.get("sparkctl.recipe", ""), labels.get("sparkctl.recipe-hash", ""),
                  _topology(labels), tuple(filter(None, labels.get("sparkctl.nodes", "").split(","))),
                  endpoint or labels["sparkctl.endpoint"], labels.get("sparkctl.served-name", ""), role)


def _topology(labels: dict[str, str]) -> str:
    """The topology as runs are compared: a cluster without Ray is `cluster-mp`, a different launch than Ray's."""
    topology, backend = labels.get("sparkctl.topology", ""), labels.get("sparkctl.backend", "")
    return f"{topology}-{backend}" if backend and backend != "ray" else topology


def endpoint_key(via: str) -> str:
    """The key the endpoint checks: the proxy's in front of replicas, else vLLM's API key (from env or `up`'s file)."""
    kind = keys.PROXY if via == "proxy" else keys.API
    key = keys.load_key(create=False, kind=kind)
    if not key:
        raise ConfigError(f"the endpoint needs {kind.what}: set ${kind.env} or restore {kind.path()}")
    return key


def resolve_settings(request: Request, recipe_args: dict[str, Any], tokenizer: str, book_url: str,
                     post_run_cmd: str | None) -> tool.Workload:
    """Flags over the recipe's benchmark.args over llama-benchy's defaults."""
    def pick(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
        value = getattr(request, name)
        if value is not None:
            return value
        raw = recipe_args.get(name, default)
        try:
            return tuple(int(v) for v in (raw if isinstance(raw, list | tuple) else [raw]))
        except (TypeError, ValueError):
            raise ConfigError(f"recipe benchmark.args.{name}: expected whole numbers, got {raw!r}") from None

    runs = request.runs if request.runs is not None else int(recipe_args.get("runs", 3))
    return tool.Workload(pick("pp", (2048,)), pick("tg", (32,)), pick("depth", (0,)), pick("concurrency", (1,)),
                              runs, tokenizer, book_url, post_run_cmd, request.skip_coherence)


def _drop_caches_command(settings, target: Target) -> str:
    """The shell command llama-benchy runs after each test run: `sparkctl drop-caches` on the deployment's nodes."""
    argv = [sys.executable, "-c", "from orchestrator.cli.main import main; main()",
            "--inventory", str(find_inventory(settings.inventory).resolve())]
    if settings.templates_dir:
        argv += ["--templates-dir", settings.templates_dir]
    return shlex.join([*argv, "drop-caches", "--nodes", ",".join(target.nodes)]) + " 1>&2"


def image_plan(target: Target, inventory, templates_dir: str | None) -> Plan:
    """Read the serving image and its layer digest on each node of the deployment."""
    script = render("bench_image", templates_dir, container="sparkctl-vllm", go_image=GO_IMAGE, go_layers=GO_LAYERS)
    steps = tuple(Step(inventory.node(n).name, "read the image digest", script, 30) for n in target.nodes)
    return Plan(action="bench", phases=(Phase("images", "Image digests", steps),))


def _images(current, target: Target) -> dict[str, dict[str, str]]:
    try:
        report = current.run(image_plan(target, current.inventory, current.settings.templates_dir))
    except SparkctlError as exc:
        console.warn(f"warning: could not read image digests: {exc}")
        return {}
    return {node: {"image": f.get("image", "?"), "layers": f.get("image_layers", "?")}
            for node, f in report.facts("images").items()}


def _recipe(settings, target: Target) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The resolved recipe as stored locally (None if unknown here) and its benchmark args."""
    try:
        recipe = settings.book().resolve(target.recipe)
    except SparkctlError as exc:
        console.warn(f"warning: recipe {target.recipe} not found here ({exc}); using llama-benchy defaults")
        return None, {}
    if recipe.content_hash != target.recipe_hash:
        console.warn(f"note: the deployment's recipe hash {target.recipe_hash[:12]} differs from {recipe.name} as "
                     f"resolved here ({recipe.short_hash}): it was deployed with --set/-e overrides or another version")
    return recipe.model_dump(mode="json"), dict(recipe.benchmark.args)


def _check_endpoint(target: Target, url: str, api_key: str | None) -> None:
    try:
        http_json(url.rstrip("/") + "/models", api_key=api_key)
    except (OSError, ValueError) as exc:
        raise ExecutionError(f"the endpoint {target.endpoint} of {target.deployment} does not answer ({http_problem(exc)}); "
                             "check 'sparkctl status'") from None


def _endpoint_node(target: Target, inventory) -> tuple[Node, int]:
    """The node and port behind the target's endpoint URL."""
    url = urlsplit(target.endpoint)
    node = next((n for n in inventory.nodes if n.ip == url.hostname), None)
    if node is None or url.port is None:
        raise ConfigError(f"the endpoint {target.endpoint} is on no node of this inventory")
    return node, url.port


def run_bench(settings, request: Request) -> None:
    """Measure the running deployment through an SSH tunnel to its endpoint and store the run."""
    inventory = settings.load_inventory()
    with session(settings, inventory) as current:
        target = find_target(current.containers(inventory.nodes, tolerant=True), request.deployment)
        node, port = _endpoint_node(target, inventory)
        with current.transport.forward(node, port) as local:
            _measure(settings, request, current, target, f"http://127.0.0.1:{local}/v1")
    if current.unreachable:
        # The endpoint answered and the run is stored; the nodes that did not are named, exit 4.
        listed = ", ".join(sorted(current.unreachable))
        raise PartialFailure(f"bench: measured the endpoint, but {listed} could not be reached to read "
                             "their containers")


def _measure(settings, request: Request, current, target: Target, url: str) -> None:
    """Run llama-benchy against url (the tunnel) and store the run; partial results are kept and marked."""
    recipe, recipe_args = _recipe(settings, target)
    api_key = endpoint_key(target.via)
    _check_endpoint(target, url, api_key)
    images = _images(current, target)
    model = (recipe or {}).get("model") or target.served_name
    tokenizer = tool.tokenizer_path(request.tokenizer, model)
    book_url = tool.book_url(request.book, request.book_url)
    post = _drop_caches_command(settings, target) if request.drop_caches else None
    bench_settings = resolve_settings(request, recipe_args, tokenizer, book_url, post)
    executable = tool.executable(console.warn)
    version = tool.tool_version(executable)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_id = store.new_run_id(stamp, target.recipe or "unknown", target.topology or "unknown")
    console.warn(f"bench {run_id}: llama-benchy {version} against {target.endpoint} ({target.deployment}, via {target.via})")
    with tempfile.TemporaryDirectory(prefix="sparkctl-bench-") as work:
        save_to = Path(work) / "result.json"
        args = bench_settings.argv(url, target.served_name, save_to)
        argv = tool.command(executable, args, keyed=bool(api_key))
        outcome = tool.run(argv, tool.offline_env(api_key), save_to, _progress(settings.json), bench_settings.deadline())
    # The stored command names the endpoint, not this run's tunnel port.
    shown = [target.endpoint if arg == url else arg for arg in args]
    record = _record(run_id, target, recipe, images, version, shown, bench_settings, outcome)
    path = store.save(record)
    _finish(settings, record, path, outcome)


def _record(run_id, target: Target, recipe, images, version, args, bench_settings, outcome) -> dict[str, Any]:
    status, problems = _status(outcome)
    shown_args = ["RESULT.json" if a.endswith("result.json") else a for a in args]
    return {
        "schema": store.SCHEMA, "id": run_id, "status": status, "problems": problems,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "sparkctl_version": _sparkctl_version(),
        "deployment": {**asdict(target), "nodes": list(target.nodes)}, "recipe": recipe, "images": images,
        "tool": {"name": "llama-benchy", "version": version, "args": shown_args},
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(bench_settings).items()},
        "result": outcome.result,
    }


def _status(outcome: tool.Outcome) -> tuple[str, list[str]]:
    problems = []
    if outcome.errors:
        problems.append(f"{len(outcome.errors)} of {outcome.requests} requests failed; first: {outcome.errors[0]}")
    if outcome.expired:
        return "interrupted", problems + ["stopped at its deadline; the tests that finished are kept"]
    if outcome.interrupted:
        return "interrupted", problems + ["interrupted (Ctrl-C); the tests that finished are kept"]
    if outcome.exit_code != 0:
        problems.append(f"llama-benchy exited {outcome.exit_code}: {outcome.stderr_tail[-600:]}")
    if outcome.result is None:
        return "failed", problems + ["llama-benchy saved no result"]
    return ("partial" if problems else "complete"), problems


def _sparkctl_version() -> str:
    try:
        return metadata.version("sparkctl")
    except metadata.PackageNotFoundError:
        return "unknown"


def _progress(as_json: bool):
    """Live progress from llama-benchy's event stream, one line per finished request on stderr."""
    started: dict[Any, dict] = {}

    def show(event: dict) -> None:
        kind = event.get("type")
        if kind == "request_start":
            started[event.get("request_id")] = event
        elif kind == "request_end" and not as_json:
            begin = started.pop(event.get("request_id"), {})
            what = (f"c={begin.get('concurrency', '?')} pp={begin.get('prompt_size', '?')} "
                    f"tg={begin.get('response_size', '?')} depth={begin.get('context_size', '?')} "
                    f"run {begin.get('run_index', '?')}")  # llama-benchy's run 0 is its warmup
            tokens, seconds = event.get("total_tokens") or 0, event.get("decode_seconds") or 0
            speed = f", {tokens / seconds:.1f} tok/s" if seconds else ""
            error = f"  FAILED: {str(event['error'])[:160]}" if event.get("error") else ""
            console.warn(f"  {what}: {tokens} tokens{speed}{error}")
    return show


def _finish(settings, record: dict[str, Any], path: Path, outcome: tool.Outcome) -> None:
    if settings.json:
        console.emit_json({"id": record["id"], "path": str(path), "status": record["status"],
                           "problems": record["problems"], "result": record["result"]})
    else:
        compare_tables([store.load(record["id"])])
        console.info(f"stored: {record['id']} ({record['status']}) in {path}")
    for problem in record["problems"]:
        console.warn(f"warning: {problem}")
    if record["status"] != "complete":
        raise ExecutionError(f"bench {record['status']}: results kept in {path}"
                             + (" (incomplete)" if record["result"] else " (no test finished)"))
