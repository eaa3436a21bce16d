"""Pure planning: inventory + recipe + topology in, Plan out. No I/O beyond reading templates."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.config.inventory import Inventory, Node
from orchestrator.config.values import url_host
from orchestrator.plan import agent, argv, entry, probes, proxy
from orchestrator.plan.argv import LABEL, container_name
from orchestrator.plan.data import Deployment, Gate, Phase, PhaseKind, Plan, Readiness, Step
from orchestrator.plan.hfcache import repo_dir
from orchestrator.plan.templates import render
from orchestrator.plan.topology import Layout, Role, Topology

if TYPE_CHECKING:
    from orchestrator.config.recipe import Recipe

GO_STATUS = ('{"name":{{json .Name}},"state":{{json .State.Status}},"labels":{{json .Config.Labels}},'
             '"restarts":{{.RestartCount}},"started":{{json .State.StartedAt}},"finished":{{json .State.FinishedAt}}}')
READY_DEADLINE = 20 * 60.0
GATE_DEADLINE = 180.0
# The head's own wait for its members ends a moment after the gate's (it polls as often).
SERVE_START = 60.0


@dataclass(frozen=True)
class UpOptions:
    """Choices that shape an `up` plan but are not part of the recipe."""

    templates_dir: str | None = None
    secrets: tuple[str, ...] = ()
    ready_deadline: float = READY_DEADLINE
    gate_deadline: float = GATE_DEADLINE
    backend: str | None = None
    # A stack's deployment: its name (in its container names and id) and its stack's; empty for a plain `up`.
    name: str = ""
    stack: str = ""


def backend_of(recipe: Recipe, layout: Layout, chosen: str | None = None) -> str:
    """A cluster's backend: --backend, else the recipe's, else Ray (the write-up's); nothing for one-node deployments."""
    if layout.topology is not Topology.CLUSTER:
        return ""
    return chosen or recipe.backend or "ray"


def api_port(recipe: Recipe, inventory: Inventory) -> int:
    """The port vLLM serves on: the recipe's own (the write-up's args.port) or the inventory's."""
    return recipe.api_port or inventory.defaults.api_port


def shape_hash(recipe: Recipe, layout: Layout, inventory: Inventory) -> str:
    """The recipe's hash and every inventory fact that shapes the containers: a change to either is a new deployment."""
    nodes = [[n.name, n.ip, n.ray_ip, n.fabric_if, list(n.rdma_devices)] for n in layout.nodes]
    # memory_budget only limits what a stack places; it shapes no container.
    facts = {"recipe": recipe.content_hash, "nodes": nodes,
             "defaults": inventory.defaults.model_dump(mode="json", exclude={"ssh_key", "known_hosts", "ssh_config",
                                                                             "memory_budget"}),
             "mounts": inventory.mounts(), "ulimits": inventory.ulimits()}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def deployment_for(recipe: Recipe, layout: Layout, inventory: Inventory, backend: str = "", name: str = "",
                   stack: str = "") -> Deployment:
    """The identity of deploying recipe on layout (the backend is part of it: ray and mp are different launches)."""
    entry = layout.entry
    port = inventory.defaults.proxy_port if layout.topology is Topology.REPLICAS else api_port(recipe, inventory)
    kind = f"{layout.topology.value}-{backend}" if backend and backend != "ray" else layout.topology.value
    return Deployment(
        id=f"{name + '.' if name else ''}{recipe.name}.{kind}.{shape_hash(recipe, layout, inventory)[:8]}",
        recipe=recipe.name,
        recipe_hash=recipe.content_hash,
        topology=layout.topology.value,
        nodes=tuple(n.name for n in layout.nodes),
        endpoint=f"http://{url_host(entry.ip)}:{port}/v1",
        served_name=recipe.served_model_name,
        backend=backend,
        name=name,
        stack=stack,
    )


def deployment_secret_names(backend: str, inventory: Inventory, operator: tuple[str, ...]) -> tuple[str, ...]:
    """Secrets every container of a deployment reads: the operator's (HF_TOKEN), vLLM's API key, Ray's token."""
    names = [*operator, argv.API_KEY_ENV]
    if backend == "ray" and inventory.defaults.ray_auth == "token":
        names.append(argv.RAY_TOKEN_ENV)
    return tuple(dict.fromkeys(names))


def plan_up(inventory: Inventory, recipe: Recipe, layout: Layout, options: UpOptions = UpOptions()) -> Plan:
    """Every phase of bringing recipe up on layout."""
    deployment = deployment_for(recipe, layout, inventory, backend_of(recipe, layout, options.backend), options.name,
                                options.stack)
    builder = _UpBuilder(inventory, recipe, layout, options, deployment)
    return Plan(action="up", phases=builder.phases(), deployment=deployment)


class _UpBuilder:
    """Renders the steps of one `up` plan."""

    def __init__(self, inventory: Inventory, recipe: Recipe, layout: Layout, options: UpOptions, deployment: Deployment):
        self.inventory, self.recipe, self.layout = inventory, recipe, layout
        self.options, self.deployment = options, deployment
        self.defaults = inventory.defaults
        self.api_port = api_port(recipe, inventory)
        self.backend = deployment.backend
        self.container = container_name(deployment.name)
        self.secrets = deployment_secret_names(self.backend, inventory, options.secrets)

    def phases(self) -> tuple[Phase, ...]:
        if self.backend == "ray":
            middle = (self._ray_head(), self._ray_workers(), self._ray_gate(), self._serve_on_head())
        elif self.backend == "mp":
            middle = (self._rank(0), self._ranks(), self._rank_gate())
        else:
            middle = (self._start_all_serving(),)
        phases = (self._preflight(), plan_drop_caches(self.inventory, self.layout.nodes, self.options.templates_dir)
                  .phases[0], *middle, self._readiness(), *self._agent_check())
        if self.layout.topology is Topology.REPLICAS:
            phases = proxy.ProxyPlanner(self.inventory, self.layout.nodes, self.deployment, self.options.templates_dir,
                                        self.options.ready_deadline, self.api_port).add_to(phases)
        return (*phases, self._restart_policy())

    def _restart_policy(self) -> Phase:
        return restart_policy_phase(self.layout.nodes, self.deployment.id, self.options.templates_dir)

    def _step(self, node: Node, description: str, template: str, timeout: float, **context) -> Step:
        script = render(template, self.options.templates_dir, **context)
        return Step(node.name, description, script, timeout, secrets=self.secrets)

    def _preflight(self) -> Phase:
        cluster = self.backend == "ray"
        steps = []
        for assignment in self.layout.assignments:
            ports = [self.api_port] if assignment.role is not Role.WORKER else []
            if assignment.role is Role.HEAD:
                ports.append(self.defaults.ray_port if cluster else self.defaults.master_port)
            steps.append(self._step(
                assignment.node, "check docker, image, ports, memory", "preflight", 90,
                image=self.recipe.container, need_ray=cluster, ports=ports, ray_auth=cluster and self._ray_auth,
                rdma_devices=assignment.node.rdma_devices if self._rdma(assignment.node) else (),
                check_flags=assignment.node == self.layout.entry,
                go_server_version="{{.Server.Version}}", go_layers="{{json .RootFS.Layers}}",
                recipe=self.recipe.name, model_dir=repo_dir(self.recipe.model), revision=self.recipe.revision or "main",
            ))
        return Phase("preflight", "Preflight", tuple(steps), agree_on=("image_layers",))

    def _container_step(self, node: Node, role: Role, command: list[str], description: str) -> Step:
        volumes, host_dirs = argv.volume_options(self.inventory, self.recipe)
        mods = argv.mod_shipments(self.recipe)
        entrypoint, command = argv.entrypoint_and_command(command, mods)
        env = dict(self.recipe.env)
        labels = argv.label_options(self.deployment, node, role)
        if self.deployment.name:
            labels += ["--label", f"{argv.MEMORY_LABEL}={argv.memory_share(self.recipe):g}"]
        if self.layout.topology is Topology.CLUSTER:
            env.update(argv.fabric_env(node, self.inventory, ray=self.backend == "ray"))
        elif self.layout.topology is Topology.REPLICAS:
            labels += ["--label", f"{proxy.API_LABEL}={proxy.backend_url(node, self.api_port)}"]
        return self._step(
            node, description, "start_container", 120,
            container=self.container, image=self.recipe.container, command=command, host_dirs=host_dirs,
            labels=labels, volumes=volumes + argv.mod_volumes(mods), entrypoint=entrypoint, mods=mods,
            ulimits=argv.ulimit_options(self.inventory), rdma=self._rdma(node),
            env=argv.env_options(env, self.secrets),
        )

    @property
    def _ray_auth(self) -> bool:
        return self.defaults.ray_auth == "token"

    def _rdma(self, node: Node) -> list[str]:
        return argv.rdma_options(node, self.inventory) if self.layout.topology is Topology.CLUSTER else []

    def _ray_head(self) -> Phase:
        """The head's main process starts Ray, waits for the members, then execs vllm serve (see plan/entry.py)."""
        head = self.layout.entry
        serve = argv.vllm_serve(self.recipe, self.api_port, distributed=True)
        command = entry.ray_head_command(head, self.layout.nodes, self.recipe.gpus, self.defaults.ray_port,
                                         self.options.gate_deadline, serve, self.options.templates_dir)
        step = self._container_step(head, Role.HEAD, command, f"start Ray head on {head.ray_ip}")
        return Phase("ray-head", "Ray head", (step,))

    def _ray_workers(self) -> Phase:
        head = self.layout.entry
        steps = tuple(
            self._container_step(a.node, Role.WORKER, entry.ray_worker_command(
                a.node, head, self.defaults.ray_port, self.options.gate_deadline, self.options.templates_dir),
                f"start Ray worker on {a.node.ray_ip}, joining {head.ray_ip}")
            for a in self.layout.assignments if a.role is Role.WORKER
        )
        return Phase("ray-workers", "Ray workers", steps)

    def _ray_gate(self) -> Phase:
        gate = Gate(tuple(n.ray_ip for n in self.layout.nodes), self.recipe.gpus, self.options.gate_deadline)
        step = self._step(self.layout.entry, f"wait until Ray sees {len(gate.expected_ips)} nodes and "
                          f"{gate.min_gpus} GPUs", "ray_gate", gate.deadline + 30, container=self.container,
                          watch=argv.RAY_WATCH, expected=",".join(gate.expected_ips), gpus=gate.min_gpus,
                          deadline=int(gate.deadline))
        return Phase("ray-gate", "Ray membership", (Step(**{**step.__dict__, "gate": gate}),), kind=PhaseKind.GATE)

    def _rank_command(self, rank: int) -> list[str]:
        nnodes, master = len(self.layout.nodes), self.layout.entry
        return [*argv.vllm_serve(self.recipe, self.api_port),
                *argv.rank_flags(nnodes, rank, master, self.defaults.master_port)]

    def _rank(self, rank: int) -> Phase:
        """Rank 0 first, as vLLM documents: it serves the API and hosts the master port the others join."""
        head = self.layout.entry
        step = self._container_step(head, Role.HEAD, self._rank_command(0),
                                    f"start vllm serve rank 0 of {len(self.layout.nodes)} on {head.ray_ip}")
        return Phase("rank-0", "vLLM rank 0", (step,))

    def _ranks(self) -> Phase:
        steps = tuple(
            self._container_step(a.node, Role.WORKER, self._rank_command(rank),
                                 f"start vllm serve rank {rank} (headless), joining {self.layout.entry.ray_ip}")
            for rank, a in enumerate(self.layout.assignments) if a.role is Role.WORKER
        )
        return Phase("ranks", "vLLM ranks", steps)

    def _rank_gate(self) -> Phase:
        head = self.layout.entry
        gate = Gate(tuple(n.ray_ip for n in self.layout.nodes), self.recipe.gpus, self.options.gate_deadline,
                    members="vLLM ranks")
        workers = [n.ray_ip for n in self.layout.nodes[1:]]
        step = self._step(head, f"wait until {len(workers)} ranks join the master port", "rank_gate",
                          gate.deadline + 30, container=self.container, go_state="{{.State.Status}}", head_ip=head.ray_ip,
                          worker_ips=workers, port=self.defaults.master_port, deadline=int(gate.deadline))
        return Phase("rank-gate", "vLLM rendezvous", (Step(**{**step.__dict__, "gate": gate}),), kind=PhaseKind.GATE)

    def _serve_on_head(self) -> Phase:
        """The head's entry script starts vllm serve once the gate's members are in: see that it did."""
        head = self.layout.entry
        step = self._step(head, "see the head start vllm serve", "serve", int(SERVE_START) + 30, container=self.container,
                          mark=entry.SERVING_MARK, go_state="{{.State.Status}}", deadline=int(SERVE_START))
        return Phase("serve", "vLLM serve", (step,))

    def _start_all_serving(self) -> Phase:
        command = argv.vllm_serve(self.recipe, self.api_port, distributed=False)
        steps = tuple(self._container_step(a.node, a.role, command, "start the vllm serve container")
                      for a in self.layout.assignments)
        return Phase("serve", "vLLM serve", steps)

    def _readiness(self) -> Phase:
        serving = self.layout.nodes if self.layout.topology is Topology.REPLICAS else (self.layout.entry,)
        steps = []
        workers = tuple(a.node.name for a in self.layout.assignments if a.role is Role.WORKER)
        port, templates = self.api_port, self.options.templates_dir
        for node in serving:
            readiness = Readiness(probes.local_url(port), self.recipe.served_model_name, self.container,
                                  self.options.ready_deadline, watch=workers,
                                  watch_script=probes.container_probe(templates, self.container) if workers else "")
            script = probes.server_probe(templates, self.container, port, self.recipe.served_model_name,
                                         key_env=argv.API_KEY_ENV)
            steps.append(Step(node.name, "wait until the server answers", script, probes.PROBE_TIMEOUT,
                              secrets=(argv.API_KEY_ENV,), readiness=readiness))
        return Phase("readiness", "Readiness", tuple(steps), kind=PhaseKind.READINESS)

    def _agent_check(self) -> tuple[Phase, ...]:
        """For a coding-agent recipe: the Messages API answers on every serving node."""
        if not self.recipe.coding_agent:
            return ()
        serving = self.layout.nodes if self.layout.topology is Topology.REPLICAS else (self.layout.entry,)
        return (agent.messages_check(serving, self.api_port, self.recipe.served_model_name, argv.API_KEY_ENV,
                                     self.options.templates_dir),)


def restart_policy_phase(nodes: tuple[Node, ...], deployment_id: str, templates_dir: str | None) -> Phase:
    """Only a deployment that answered gets docker's restart policy: a crash while loading fails `up` instead."""
    script = render("restart_policy", templates_dir, filter=f"label={LABEL}={deployment_id}",
                    policy=entry.RESTART_POLICY, go_policy="{{.Name}} {{.HostConfig.RestartPolicy.Name}}")
    steps = tuple(Step(n.name, f"restart the containers after a crash or reboot ({entry.RESTART_POLICY})",
                       script, 60) for n in nodes)
    return Phase("restart-policy", "Restart policy", steps)


def plan_drop_caches(inventory: Inventory, nodes: tuple[Node, ...], templates_dir: str | None = None,
                     tolerant: bool = False) -> Plan:
    """Drop the page cache on nodes, reporting MemAvailable before and after."""
    script = render("drop_caches", templates_dir)
    steps = tuple(Step(n.name, "drop the page cache", script, 60) for n in nodes)
    return Plan(action="drop-caches", phases=(Phase("drop-caches", "Drop page cache", steps, tolerant=tolerant),))


def plan_teardown(nodes: tuple[Node, ...], deployment_id: str | None = None,
                  templates_dir: str | None = None, tolerant: bool = False) -> Plan:
    """Remove sparkctl's containers (all of them, or one deployment's) and verify none survive."""
    label_filter = f"label={LABEL}={deployment_id}" if deployment_id else f"label={LABEL}"
    script = render("teardown", templates_dir, filter=label_filter)
    steps = tuple(Step(n.name, "remove sparkctl containers", script, 120) for n in nodes)
    return Plan(action="down", phases=(Phase("teardown", "Teardown", steps, tolerant=tolerant),))


def plan_failure_logs(nodes: tuple[Node, ...], deployment_id: str, templates_dir: str | None = None,
                      tail: int = 400) -> Plan:
    """The last log lines of a deployment's containers on every node, read whatever state the nodes are in."""
    script = render("logs", templates_dir, options=["--tail", str(tail)], filter=f"label={LABEL}={deployment_id}",
                    go_name="{{.Names}}")
    steps = tuple(Step(n.name, "read the containers' last log lines", script, 30) for n in nodes)
    return Plan(action="failure-logs", phases=(Phase("failure-logs", "Save logs", steps, tolerant=True),))


def plan_status(nodes: tuple[Node, ...], templates_dir: str | None = None, tolerant: bool = False) -> Plan:
    """Read every sparkctl container's labels and state from the nodes."""
    script = render("status", templates_dir, filter=f"label={LABEL}", go_format=GO_STATUS)
    steps = tuple(Step(n.name, "list sparkctl containers", script, 30) for n in nodes)
    return Plan(action="status", phases=(Phase("status", "Status", steps, tolerant=tolerant),))
