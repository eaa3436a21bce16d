"""Parallelism checks: Ray placement like vLLM's Ray executor, or a single node's GPU count."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

from standin_log import fail, log

HEALTH_CHECK_SECONDS = 5.0


def env_float(name: str, default: float) -> float:
    """Read a float setting from the environment."""
    return float(os.environ.get(name) or default)


def world_size(args: argparse.Namespace) -> int:
    """GPUs one engine needs: tensor parallel × pipeline parallel."""
    return args.tensor_parallel_size * args.pipeline_parallel_size


def ray_available() -> bool:
    """True when the `ray` package can be imported."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def choose_backend(args: argparse.Namespace) -> str:
    """vLLM's default: one process when one GPU is needed, Ray when more are and Ray is installed."""
    if args.distributed_executor_backend:
        return args.distributed_executor_backend
    if world_size(args) <= local_gpus(args):
        return "uni" if world_size(args) == 1 else "mp"
    if not ray_available():
        fail(
            "config.py:2150",
            "ValueError",
            "Unable to load Ray: No module named 'ray'. Ray is required for "
            "multi-node inference, please install Ray with `pip install ray`.",
            ["config.py:__post_init__"],
        )
    return "ray"


def local_gpus(args: argparse.Namespace) -> int:
    """GPUs this node (or all --nnodes of the mp launch) offer: one GB10 per Spark."""
    return int(env_float("VLLM_STANDIN_GPUS", 1)) * max(args.nnodes or 1, 1)


def check_parallelism(args: argparse.Namespace) -> object | None:
    """Fail like vLLM when the GPUs are not there; with Ray, return the placement (kept alive)."""
    backend = choose_backend(args)
    log("config.py:1604", f"Defaulting to use {backend} for distributed inference")
    if backend == "ray":
        return place_on_ray(world_size(args))
    if world_size(args) > local_gpus(args):
        fail(
            "parallel.py:373",
            "ValueError",
            f"World size ({world_size(args)}) is larger than the number of available GPUs "
            f"({local_gpus(args)}) in this node. If this is intentional and you are using:\n"
            "- ray, set '--distributed-executor-backend ray'.\n"
            "- multiprocessing, set '--nnodes' appropriately.",
            ["config/parallel.py:__post_init__"],
        )
    return None


def placement_strategy() -> str:
    """The strategy from VLLM_DISTRIBUTED_EXECUTOR_CONFIG, PACK when unset."""
    raw = os.environ.get("VLLM_DISTRIBUTED_EXECUTOR_CONFIG") or "{}"
    options = json.loads(raw).get("placement_group_options") or {}
    return options.get("strategy", "PACK")


def driver_ip() -> dict[str, str]:
    """Pin the driver to VLLM_HOST_IP, as vLLM does, so Ray need not probe outside to find its address."""
    host_ip = os.environ.get("VLLM_HOST_IP")
    return {"_node_ip_address": host_ip} if host_ip else {}


def place_on_ray(world: int) -> object:
    """Join the node's Ray cluster, check its GPUs, reserve them and start one worker per GPU."""
    try:
        import ray
    except ImportError as error:
        fail(
            "ray_utils.py:58",
            "ImportError",
            f"Ray is not installed ({error}); the ray backend needs it.",
            ["executor/ray_utils.py:assert_ray_available"],
        )

    log("ray_utils.py:339", "Connecting to existing Ray cluster at address: auto")
    try:
        ray.init(address="auto", logging_level="WARNING", log_to_driver=False, **driver_ip())
    except (ConnectionError, RuntimeError) as error:
        fail(
            "ray_utils.py:339",
            "ConnectionError",
            str(error),
            ["executor/ray_utils.py:initialize_ray_cluster"],
        )
    gpus = ray.cluster_resources().get("GPU", 0)
    log("ray_utils.py:373", f"Ray cluster has {int(gpus)} GPUs on {len(ray.nodes())} nodes; need {world}")
    if world > gpus:
        fail(
            "ray_utils.py:380",
            "ValueError",
            "The number of required GPUs exceeds the total number of available GPUs in the placement group.",
            ["executor/ray_utils.py:initialize_ray_cluster"],
        )
    group = reserve_gpus(ray, world)
    workers = start_workers(ray, group, world)
    threading.Thread(target=watch_workers, args=(ray, workers), daemon=True).start()
    return workers


def reserve_gpus(ray: object, world: int) -> object:
    """Create the placement group and wait for it, bounded like vLLM's wait."""
    from ray.util.placement_group import placement_group

    strategy = placement_strategy()
    bundles = [{"GPU": 1.0} for _ in range(world)]
    group = placement_group(bundles, strategy=strategy)
    timeout = env_float("VLLM_STANDIN_PLACEMENT_TIMEOUT", 120)
    log("ray_utils.py:231", f"Waiting for creating a placement group of specs {bundles} ({strategy})")
    try:
        ray.get(group.ready(), timeout=timeout)
    except ray.exceptions.GetTimeoutError:
        fail(
            "ray_utils.py:245",
            "ValueError",
            f"Cannot provide a placement group of placement_group_specs="
            f"{bundles} within {timeout:.0f} seconds. See `ray status` and `ray list nodes` to make sure the "
            "cluster has enough resources.",
            ["executor/ray_utils.py:_wait_until_pg_ready"],
        )
    return group


def start_workers(ray: object, group: object, world: int) -> list:
    """One GPU actor per bundle, as vLLM's RayWorkerWrapper; returns them once all answer."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    # A class local to this function is shipped to the Ray workers by value, so they need no copy of it.
    @ray.remote(num_gpus=1, num_cpus=0)
    class RayWorkerWrapper:
        def node_ip(self) -> str:
            return ray.util.get_node_ip_address()

    workers = [
        RayWorkerWrapper.options(
            scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=group, placement_group_bundle_index=i)
        ).remote()
        for i in range(world)
    ]
    ips = ray.get([w.node_ip.remote() for w in workers], timeout=env_float("VLLM_STANDIN_PLACEMENT_TIMEOUT", 120))
    log("ray_distributed_executor.py:372", f"workers placed on nodes: {ips}")
    return workers


def watch_workers(ray: object, workers: list) -> None:
    """Like vLLM, the engine dies when any Ray worker dies."""
    while True:
        time.sleep(HEALTH_CHECK_SECONDS)
        try:
            ray.get([w.node_ip.remote() for w in workers], timeout=HEALTH_CHECK_SECONDS * 3)
        except Exception as error:  # noqa: BLE001 - any failure of a worker is fatal to the engine
            log(
                "core_client.py:564",
                "Engine core proc EngineCore_0 died unexpectedly, shutting down client.",
                "ERROR",
            )
            fail(
                "ray_distributed_executor.py:538",
                "RayActorError",
                f"a Ray worker died: {error}",
                ["v1/executor/ray_distributed_executor.py:collective_rpc"],
            )
