"""Each simulated node runs its own real dockerd, as a Spark does."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.sim import Cluster

pytestmark = pytest.mark.integration
BUSYBOX = "sim-busybox"
PROJECT_IMAGE = "vllm-node"
HTTP_PORT = 18088


def test_docker_over_ssh_talks_to_the_nodes_own_engine(sim_cluster: Cluster) -> None:
    versions = sim_cluster.ssh(1, "docker version --format '{{.Client.Version}} {{.Server.Version}}'")
    assert versions.returncode == 0, versions.stderr
    client, server = versions.stdout.split()
    assert client == server, "the node's PATH must pick the docker client matching its dockerd"
    roots = {sim_cluster.ssh(n, "docker info --format '{{.DockerRootDir}}'").stdout.strip() for n in sim_cluster.nodes}
    assert roots == {str(n.dir / "docker-data") for n in sim_cluster.nodes}


def test_every_node_has_the_projects_images_loaded(sim_cluster: Cluster) -> None:
    for node in sim_cluster.nodes:
        tags = sim_cluster.ssh(node, "docker images --format '{{.Repository}}'").stdout.split()
        assert {BUSYBOX, PROJECT_IMAGE, "vllm-node-mxfp4"} <= set(tags), node.name


def test_gpus_all_and_init_are_accepted(sim_cluster: Cluster) -> None:
    command = f"docker run --rm --pull never --init --gpus all --ipc host --network host {BUSYBOX} hostname"
    done = sim_cluster.ssh(2, command)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "spark2"


def test_same_container_name_on_two_nodes_does_not_collide(sim_cluster: Cluster) -> None:
    run = f"docker run -d --name twin --network none {BUSYBOX} sleep 60"
    try:
        for node in sim_cluster.nodes[:2]:
            assert sim_cluster.ssh(node, run).returncode == 0
        assert sim_cluster.ssh(1, "docker ps -q --filter name=twin | wc -l").stdout.strip() == "1"
    finally:
        for node in sim_cluster.nodes[:2]:
            sim_cluster.ssh(node, "docker rm -f twin")


def _http_get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read()
    except (urllib.error.URLError, OSError):
        return None


def test_host_network_container_listens_in_its_nodes_namespace_only(sim_cluster: Cluster) -> None:
    first, second = sim_cluster.nodes[:2]
    serve = f"docker run -d --name web --network host {BUSYBOX} httpd -f -p {HTTP_PORT} -h /www"
    try:
        assert sim_cluster.ssh(second, serve).returncode == 0
        deadline = time.monotonic() + 10
        while _http_get(f"http://{second.ip}:{HTTP_PORT}/") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _http_get(f"http://{second.ip}:{HTTP_PORT}/") == b"sim-busybox\n"
        assert _http_get(f"http://{first.ip}:{HTTP_PORT}/") is None
        assert _http_get(f"http://127.0.0.1:{HTTP_PORT}/") is None
        fetched = sim_cluster.ssh(first, f"busybox wget -qO- http://{second.fabric_ip}:{HTTP_PORT}/")
        assert fetched.stdout == "sim-busybox\n", "nodes reach each other's services on the fabric too"
    finally:
        sim_cluster.ssh(second, "docker rm -f web")


def _ray_status(cluster: Cluster) -> dict:
    """Ray's view of the cluster, from inside the head container."""
    script = (
        "import json, ray; ray.init(address='auto', logging_level='ERROR');"
        "print(json.dumps({'nodes': sorted(n['NodeManagerAddress'] for n in ray.nodes() if n['Alive']),"
        " 'gpus': ray.cluster_resources().get('GPU', 0)}))"
    )
    done = cluster.ssh(1, f'docker exec ray-head python3 -c "{script}"', timeout=60)
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}


def test_ray_spans_two_nodes_on_fabric_addresses_with_one_gpu_each(sim_cluster: Cluster) -> None:
    first, second = sim_cluster.nodes[:2]
    common = f"docker run -d --init --network host --ipc host --gpus all {PROJECT_IMAGE}"
    head = f"{common.replace('-d', '-d --name ray-head', 1)} ray start --head --port 6379 --block"
    worker = f"{common.replace('-d', '-d --name ray-worker', 1)} ray start --address {first.fabric_ip}:6379 --block"
    try:
        assert sim_cluster.ssh(first, f"{head} --node-ip-address {first.fabric_ip}").returncode == 0
        assert sim_cluster.ssh(second, f"{worker} --node-ip-address {second.fabric_ip}").returncode == 0
        wanted = {"nodes": [first.fabric_ip, second.fabric_ip], "gpus": 2.0}
        deadline = time.monotonic() + 120
        status = _ray_status(sim_cluster)
        while status != wanted and time.monotonic() < deadline:
            time.sleep(2)
            status = _ray_status(sim_cluster)
        assert status == wanted
    finally:
        sim_cluster.ssh(first, "docker rm -f ray-head")
        sim_cluster.ssh(second, "docker rm -f ray-worker")
