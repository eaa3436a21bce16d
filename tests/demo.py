"""`make demo`: the main job against a simulated 2-node Spark cluster, through real SSH.

Starts the simulated cluster, then runs exactly what a user runs:
sparkctl up cluster openai-gpt-oss-120b-cluster, status, a chat request, a short benchmark, down;
and always tears down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from orchestrator.config import keys
from tests.benchdata import book_text, build_tokenizer
from tests.sim import Cluster
from tests.sim.modelcache import seed_catalog

DEMO_DIR = Path("/var/lib/sparkctl-sim/demo")
REPO = Path(__file__).resolve().parents[1]
SPARKCTL = str(Path(sys.executable).parent / "sparkctl")


def sparkctl(*args: str, inventory: Path) -> None:
    """Run sparkctl as a user would, echoing the command."""
    print(f"\n$ sparkctl {' '.join(args)}", flush=True)
    env = {**os.environ, "SPARKCTL_INVENTORY": str(inventory),
           "SPARKCTL_LLAMA_BENCHY": str(REPO / ".venv-bench" / "bin" / "llama-benchy")}
    subprocess.run([SPARKCTL, *args], env=env, check=True, timeout=1500)


def ask(endpoint: str, model: str) -> str:
    """One chat completion against the deployed endpoint, with the API key `up` generated."""
    body = {"model": model, "messages": [{"role": "user", "content": "Hello, Spark!"}], "max_tokens": 8}
    key = keys.load_key(create=False, kind=keys.API)
    request = urllib.request.Request(f"{endpoint}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["choices"][0]["message"]["content"]


def bench_inputs(directory: Path) -> dict[str, Path]:
    """A generated book and a tokenizer trained on it, so llama-benchy needs no network."""
    directory.mkdir(parents=True, exist_ok=True)
    book = directory / "book.txt"
    book.write_text(book_text(), encoding="utf-8")
    return {"book": book, "tokenizer": build_tokenizer(REPO / ".venv-bench" / "bin" / "python", book, directory / "tok")}


def main() -> int:
    """Bring the simulated cluster up, run the main job, always tear down."""
    cluster = Cluster(DEMO_DIR)
    print("starting a simulated 2-node Spark cluster (network namespaces, sshd, dockerd per node)...", flush=True)
    cluster.up(2, docker=True)
    seed_catalog(cluster.nodes)
    print("(the model is already in each node's Hugging Face cache, as after 'sparkctl models sync')", flush=True)
    try:
        inventory = cluster.inventory_path
        sparkctl("up", "cluster", "openai-gpt-oss-120b-cluster", inventory=inventory)
        sparkctl("status", inventory=inventory)
        print(f"\n$ chat request to http://10.77.0.11:8000/v1\nreply: {ask('http://10.77.0.11:8000/v1', 'openai/gpt-oss-120b')}")
        inputs = bench_inputs(DEMO_DIR / "bench")
        sparkctl("bench", "--pp", "256", "--tg", "16", "--concurrency", "1,2", "--runs", "1",
                 "--tokenizer", str(inputs["tokenizer"]), "--book", str(inputs["book"]), inventory=inventory)
        sparkctl("drop-caches", "--all", inventory=inventory)
        sparkctl("down", inventory=inventory)
    finally:
        cluster.down()
        print("simulated cluster stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
