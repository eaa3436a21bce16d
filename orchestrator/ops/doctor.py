"""`doctor`: is every node ready for a launch? One probe per node, one pairwise fabric phase, then verdicts."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from orchestrator.config.inventory import Node
from orchestrator.config.settings import Settings, split_nodes
from orchestrator.errors import SparkctlError
from orchestrator.ops import doctor_checks as checks
from orchestrator.ops.doctor_checks import Problem, Severity
from orchestrator.plan.data import Phase, Plan, Step
from orchestrator.plan.templates import render
from orchestrator.remote.executor import Report
from orchestrator.remote.session import Session, session
from orchestrator.report import console
from orchestrator.report.tables import Column, Fit

PROBE_TIMEOUT = 30.0
PAIRS_TIMEOUT = 20.0
GO_TEMPLATES = {"go_server_version": "{{.Server.Version}}", "go_runtimes": "{{json .Runtimes}}",
                "go_architecture": "{{.Architecture}}"}


@dataclass
class Findings:
    """What the doctor saw: facts per node, the fabric matrix, and the problems."""

    facts: dict[str, dict[str, str]] = field(default_factory=dict)
    matrix: dict[str, dict[str, bool | None]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not any(p.severity == Severity.ERROR for p in self.problems)


def probe_plan(nodes: tuple[Node, ...], images: list[str], templates_dir: str | None) -> Plan:
    """One read-only probe per node."""
    steps = tuple(Step(n.name, "probe the node", render("doctor_node", templates_dir, fabric_if=n.fabric_if or "",
                                                         images=images, **GO_TEMPLATES), PROBE_TIMEOUT) for n in nodes)
    return Plan("doctor", (Phase("doctor-probe", "probing nodes", steps),))


def pairs_plan(nodes: tuple[Node, ...], templates_dir: str | None) -> Plan:
    """Each node tries every other node's fabric address, all peers at once."""
    steps = []
    for node in nodes:
        peers = [{"name": p.name, "ip": p.ray_ip} for p in nodes if p.name != node.name]
        steps.append(Step(node.name, "reach every peer's fabric address",
                          render("doctor_pairs", templates_dir, peers=peers), PAIRS_TIMEOUT))
    return Plan("doctor", (Phase("doctor-pairs", "checking the fabric between nodes", tuple(steps)),))


def run_tolerant(current: Session, plan: Plan) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Run a one-phase plan; on failure, rerun node by node so one dead node does not hide the others."""
    phase = plan.phases[0]
    try:
        return current.run(plan).facts(phase.name), {}
    except SparkctlError:
        pass
    facts, failures = {}, {}
    for step in phase.steps:
        try:
            report = current.run(Plan(plan.action, (Phase(phase.name, phase.title, (step,)),)), Report())
            facts.update(report.facts(phase.name))
        except SparkctlError as exc:
            failures[step.node] = str(exc).splitlines()[0]
    return facts, failures


def probe_nodes(current: Session, nodes: tuple[Node, ...], images: list[str], required: list[str],
                templates_dir: str | None) -> Findings:
    """The per-node probe and its verdicts (fabric, RDMA, docker, images, disk, memory, clock, MTU)."""
    sent = time.time()
    facts, failures = run_tolerant(current, probe_plan(nodes, images, templates_dir))
    window = (sent, time.time())
    findings = Findings(facts=facts, images=images)
    for name, reason in failures.items():
        findings.problems.append(Problem(name, "ssh", f"{name} did not answer the probe: {reason}",
                                         f"check that {name} is powered on and reachable: ssh to it by hand"))
    for node in nodes:
        if node.name in facts:
            findings.problems += checks.node_problems(node, facts[node.name], images, required, window)
    findings.problems += checks.check_mtus([n for n in nodes if n.name in facts], facts)
    return findings


def doctor_preflight_checks(current: Session, nodes: tuple[Node, ...], images: list[str] | None = None,
                            templates_dir: str | None = None) -> list[Problem]:
    """The cheap part for `up`'s preflight: one probe per node, no pairwise phase; images given are required."""
    wanted = list(images or [])
    return probe_nodes(current, nodes, wanted, wanted, templates_dir).problems


def check_fabric_pairs(current: Session, nodes: tuple[Node, ...], templates_dir: str | None) -> tuple[dict, list[Problem]]:
    """The reachability matrix between nodes' fabric addresses and the pairs that fail."""
    if len(nodes) < 2:
        return {}, []
    facts, failures = run_tolerant(current, pairs_plan(nodes, templates_dir))
    matrix = {src.name: {dst.name: _reach(facts.get(src.name), dst.name) for dst in nodes if dst is not src}
              for src in nodes}
    problems = [Problem(n, "ssh", f"{n} could not run the fabric check: {why}", f"check that {n} answers over SSH")
                for n, why in failures.items()]
    return matrix, problems + checks.check_pairs(matrix, {n.name: n.ray_ip for n in nodes})


def _reach(facts: dict[str, str] | None, peer: str) -> bool | None:
    if facts is None or f"reach.{peer}" not in facts:
        return None
    return facts[f"reach.{peer}"] == "yes"


def catalog_images(settings: Settings, proxy_image: str) -> list[str]:
    """The images the recipe catalog and the inventory name, each once."""
    book = settings.book()
    names = []
    for recipe_name in book.names():
        try:
            names.append(book.resolve(recipe_name).container)
        except SparkctlError:
            continue
    return list(dict.fromkeys([*names, proxy_image]))


def doctor(settings: Settings, nodes: str | None, images: tuple[str, ...]) -> bool:
    """Check every chosen node and the fabric between them; print a table (or JSON); True when healthy."""
    inventory = settings.load_inventory()
    chosen = split_nodes(nodes)
    targets = tuple(inventory.node(n) for n in chosen) if chosen else inventory.nodes
    wanted = list(images) or catalog_images(settings, inventory.defaults.proxy_image)
    started = time.monotonic()
    with session(settings, inventory) as current:
        findings = probe_nodes(current, targets, wanted, list(images), settings.templates_dir)
        reachable = tuple(n for n in targets if n.name in findings.facts)
        findings.matrix, pair_problems = check_fabric_pairs(current, reachable, settings.templates_dir)
        findings.problems += pair_problems
    show(settings.json, targets, findings, time.monotonic() - started)
    return findings.ok


def show(as_json: bool, nodes: tuple[Node, ...], findings: Findings, seconds: float) -> None:
    """The node table, the fabric matrix and the problems; or one JSON document."""
    if as_json:
        console.emit_json({"ok": findings.ok, "seconds": round(seconds, 2), "nodes": findings.facts,
                           "fabric": findings.matrix, "problems": [p.as_dict() for p in findings.problems]})
        return
    console.table("sparkctl doctor: nodes", NODE_COLUMNS, [node_row(n, findings) for n in nodes])
    if findings.matrix:
        names = list(findings.matrix)
        rows = [[src, *(_mark(findings.matrix[src].get(dst), src == dst) for dst in names)] for src in names]
        console.table("fabric reachability (row reaches column's fabric IP)", ["from \\ to", *names], rows)
    if findings.problems:
        rows = [[p.severity.value, p.where, p.message, p.fix] for p in findings.problems]
        console.table("problems", ["severity", "where", "problem", "fix"], rows)
    errors = sum(p.severity == Severity.ERROR for p in findings.problems)
    warnings = len(findings.problems) - errors
    verdict = "healthy" if findings.ok else f"{errors} error(s)"
    console.info(f"doctor: {verdict}, {warnings} warning(s) on {len(nodes)} node(s) in {seconds:.1f}s")


# At 80 columns the facts every problem line repeats anyway give way first; --wide shows them all.
NODE_COLUMNS = [Column("node"), Column("fabric"), Column("fabric IP", Fit.WIDE), Column("MTU"), Column("RDMA", Fit.TEXT),
                Column("docker", Fit.WIDE), Column("GPU runtime", Fit.WIDE), Column("arch"), Column("images", Fit.TEXT),
                Column("HF free", Fit.WIDE), Column("MemAvailable", Fit.WIDE), Column("page cache", Fit.WIDE)]


def node_row(node: Node, findings: Findings) -> list[str]:
    """One line of the node table."""
    f = findings.facts.get(node.name)
    if f is None:
        return [node.name, "no answer", *[""] * (len(NODE_COLUMNS) - 2)]
    rdma = ", ".join(f"{d.name} {d.state}" for d in checks.parse_rdma(f.get("rdma", ""))) or "none"
    archs = checks.image_archs(findings.images, f)
    present = [f"{i} ({a})" for i, a in archs.items() if a not in ("missing", "unknown")]
    fabric = f"{node.fabric_if} {f.get('fabric_state', f.get('fabric_present', ''))}" if node.fabric_if else "unset"
    return [node.name, fabric, f.get("fabric_addrs", ""), f.get("fabric_mtu", ""), rdma,
            f"{f.get('docker', '?')} {f.get('docker_version', '')}".strip(), f.get("nvidia", "?"), f.get("arch", "?"),
            ", ".join(present) or "none of the catalog's", _gib(f.get("hf_free_kb")), _gib(f.get("mem_available_kb")),
            _gib(f.get("page_cache_kb"))]


def _mark(ok: bool | None, same: bool) -> str:
    return "-" if same else {True: "ok", False: "FAIL", None: "?"}[ok]


def _gib(kb: str | None) -> str:
    return f"{int(kb) / 1048576:.1f} GiB" if kb and kb.isdigit() else "?"
