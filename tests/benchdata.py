"""Offline inputs for llama-benchy: a generated book and a word-level tokenizer built from it."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

BUILD_TOKENIZER = """
import sys
from tokenizers import Tokenizer, models, pre_tokenizers
from tokenizers.trainers import WordLevelTrainer
tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
tokenizer.train([sys.argv[1]], WordLevelTrainer(special_tokens=["[UNK]"]))
tokenizer.save(sys.argv[2])
"""
WORDS = ["the", "spark", "cluster", "serves", "tokens", "quickly", "while", "memory", "holds", "weights", "and",
         "every", "node", "answers", "requests", "from", "clients", "who", "measure", "time", "to", "first"]


def book_text() -> str:
    """A long, deterministic English-like text (no network): sentences of common words and punctuation."""
    rng = random.Random(7)
    sentences = []
    for _ in range(6000):
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
        sentences.append(sentence.capitalize() + rng.choice((".", ",", ";", "!", "?")))
    return " ".join(sentences)


def build_tokenizer(python: Path, book: Path, directory: Path) -> Path:
    """A tokenizer.json trained on book with the `tokenizers` package of the given interpreter."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(python), "-c", BUILD_TOKENIZER, str(book), str(directory / "tokenizer.json")],
                   check=True, capture_output=True, text=True, timeout=120)
    return directory
