"""sparkctl set up to benchmark offline: a private HOME with llama-benchy's book cached, a local tokenizer."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.benchdata import book_text, build_tokenizer
from tests.integration.sparkctl_run import Sparkctl

REPO = Path(__file__).resolve().parents[2]
LLAMA_BENCHY = REPO / ".venv-bench" / "bin" / "llama-benchy"
DEFAULT_BOOK_URL = "https://www.gutenberg.org/files/1661/1661-0.txt"
PREFILL_TPS, DECODE_TPS = 2000.0, 50.0
SPEEDS = ("-e", f"VLLM_STANDIN_PREFILL_TPS={PREFILL_TPS:g}", "-e", f"VLLM_STANDIN_DECODE_TPS={DECODE_TPS:g}")


class BenchSparkctl(Sparkctl):
    """sparkctl with a private HOME (llama-benchy's book cache), data dir and the test's llama-benchy."""

    home: Path

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(HOME=str(self.home), XDG_DATA_HOME=str(self.home / "data"), XDG_CONFIG_HOME=str(self.home / "config"),
                   SPARKCTL_LLAMA_BENCHY=str(LLAMA_BENCHY))
        env.pop("SPARKCTL_PROXY_KEY", None)
        return env


def bench_sparkctl(cluster, tmp_path: Path) -> tuple[BenchSparkctl, Path]:
    """(sparkctl for cluster with the book cached in its HOME, the tokenizer directory)."""
    if not os.access(LLAMA_BENCHY, os.X_OK):
        pytest.fail(f"{LLAMA_BENCHY} is missing: run 'make bench-venv' (make test does)", pytrace=False)
    home = tmp_path / "home"
    book = home / ".cache" / "llama-benchy" / f"{hashlib.md5(DEFAULT_BOOK_URL.encode()).hexdigest()}.txt"
    book.parent.mkdir(parents=True)
    book.write_text(book_text(), encoding="utf-8")
    tokenizer = build_tokenizer(LLAMA_BENCHY.parent / "python", book, tmp_path / "tokenizer")
    spark = BenchSparkctl(cluster)
    spark.home = home
    return spark, tokenizer
