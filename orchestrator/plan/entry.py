"""The main process of a Ray cluster's containers: each forms (or re-forms) its part of the cluster by itself.

A restart of any container, by docker's restart policy or after a reboot, brings the cluster back without sparkctl:
the head starts Ray, waits (bounded) until every member is in, then execs `vllm serve`; a worker waits for the head,
joins it, and leaves when the head goes away, so that docker restarts it and it joins the head's next incarnation.
"""

from __future__ import annotations

from orchestrator.config.inventory import Node
from orchestrator.plan import argv
from orchestrator.plan.templates import render

RESTART_POLICY = "unless-stopped"
# What the head's entry script (templates/cluster_entry.sh.j2) logs right before it execs vllm serve.
SERVING_MARK = "sparkctl: the cluster is complete; starting vllm serve"
# A worker's supervisor (argv: head host, port, seconds to wait for it, then the `ray start ... --block` command).
# Ray itself notices a restarted head only after about a minute; a refused connection to the head's port says so at
# once, so the worker leaves and docker restarts it into the new cluster. Timeouts (a network blip, a head powered
# off) must last 30 s, about as long as Ray's own health checks tolerate.
_WORKER_SOURCE = """
import socket, subprocess, sys, time
host, port, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def answers():
    try:
        socket.create_connection((host, port), 2).close()
        return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return None
deadline = time.time() + wait
while not answers():
    if time.time() > deadline:
        sys.exit("sparkctl: the Ray head at %s:%d did not answer within %.0f s" % (host, port, wait))
    time.sleep(1)
ray = subprocess.Popen(sys.argv[4:])
heard = time.time()
while ray.poll() is None:
    state = answers()
    heard = time.time() if state else heard
    if state is False or time.time() - heard > 30:
        print("sparkctl: the Ray head at %s:%d went away; leaving so that this worker joins it again" % (host, port),
              file=sys.stderr, flush=True)
        ray.terminate()
        try:
            ray.wait(10)
        except subprocess.TimeoutExpired:
            ray.kill()
        sys.exit(1)
    time.sleep(0.5)
sys.exit(ray.returncode)
"""
WORKER_SUPERVISOR = f"exec({_WORKER_SOURCE.strip()!r})"


def ray_head_command(head: Node, nodes: tuple[Node, ...], gpus: int, ray_port: int, deadline: float,
                     serve: list[str], templates_dir: str | None = None) -> list[str]:
    """The head's main process: Ray head, the bounded wait for every node and GPU, then `vllm serve` (exec'd)."""
    script = render("cluster_entry", templates_dir, role="head", ray=argv.ray_head(head, ray_port),
                    expected=",".join(n.ray_ip for n in nodes), gpus=gpus, deadline=int(deadline))
    return ["sh", "-c", _one_line(script), "sparkctl-ray-head", argv.RAY_WATCH, *serve]


def ray_worker_command(node: Node, head: Node, ray_port: int, deadline: float,
                       templates_dir: str | None = None) -> list[str]:
    """A worker's main process: wait (bounded) for the head, join it, leave when the head goes away."""
    script = render("cluster_entry", templates_dir, role="worker", head=head.ray_ip, port=ray_port,
                    deadline=int(deadline))
    return ["sh", "-c", _one_line(script), "sparkctl-ray-worker", WORKER_SUPERVISOR,
            *argv.ray_worker(node, head, ray_port)]


def _one_line(script: str) -> str:
    """The template's lines (each a whole command) as one line, so the plan keeps one command per line."""
    return "; ".join(script.splitlines())
