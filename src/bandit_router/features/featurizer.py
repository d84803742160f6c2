"""Request → fixed-length feature vector, with no model download and no fitting step.

Layout of the vector (``FeatureSpec.dim`` entries):

====================  =========================================================
``[0]``               bias, always 1
``[1 : 1+N_DENSE]``   structure signals of the prompt (length, code, math, ...)
next ``n_buckets``    the word block, L2-normalised: signed hashed word 1..n-grams
                      (``words="hashed"``, here) or the WordLlama embedding of the
                      words (``words="wordllama"``, features.semantic)
next ``n_caller``     the caller's numeric ``features``, hashed by name,
                      squashed with sign(v)·log1p(|v|)
====================  =========================================================

The same text always gives the same vector, in every process and on every machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from bandit_router.features.hashing import stable_hash
from bandit_router.features.scan import Counts, scan

DENSE_NAMES = (
    "log_chars",
    "log_words",
    "log_lines",
    "digit_share",
    "code_markers",
    "math_markers",
    "question",
    "non_ascii_share",
)
N_DENSE = len(DENSE_NAMES)
# Word blocks: signed hashed n-grams (here) or WordLlama embeddings (features.semantic).
WORD_BLOCKS = ("hashed", "wordllama")


@dataclass(frozen=True)
class FeatureSpec:
    """Shape of the feature vector. Two processes with equal specs featurise identically."""

    n_buckets: int = 256
    max_ngram: int = 2
    n_caller: int = 16
    max_bytes: int = 65_536
    words: str = "hashed"  # what fills the word block: one of WORD_BLOCKS

    def __post_init__(self) -> None:
        if self.n_buckets < 1 or self.n_caller < 0 or self.max_ngram < 1:
            raise ValueError("n_buckets ≥ 1, n_caller ≥ 0 and max_ngram ≥ 1 are required")
        if self.words not in WORD_BLOCKS:
            raise ValueError(f"words must be one of {', '.join(WORD_BLOCKS)}; got {self.words!r}")

    @property
    def name(self) -> str:
        """What a vector of this spec means, e.g. ``hashed-256x2+16`` or ``wordllama-64+16``:
        stored with every posterior, so that one fitted on other features is never served."""
        words = (f"hashed-{self.n_buckets}x{self.max_ngram}" if self.words == "hashed"
                 else f"{self.words}-{self.n_buckets}")
        return f"{words}+{self.n_caller}"

    @property
    def dim(self) -> int:
        return 1 + N_DENSE + self.n_buckets + self.n_caller

    @property
    def bucket_slice(self) -> slice:
        return slice(1 + N_DENSE, 1 + N_DENSE + self.n_buckets)

    @property
    def caller_slice(self) -> slice:
        start = 1 + N_DENSE + self.n_buckets
        return slice(start, start + self.n_caller)


# The service's features (Settings' defaults, the simulator's and the benchmarks'): WordLlama's
# first 128 dimensions. On MMLU they route better than 256 hashed buckets (APGR +0.017 on each
# of 5 seeds), as well on the ten-model world, and at d = 153 instead of 281 a decision costs
# less (simulations/README.md, "Semantic features").
DEFAULT_SPEC = FeatureSpec(words="wordllama", n_buckets=128)


class Featurizer:
    """Turns a prompt and optional caller features into a ``float64`` vector of ``spec.dim``,
    with hashed n-grams as the word block (``features.featurizer_for`` picks the class of a
    spec's word block)."""

    words = "hashed"  # the word block this class makes

    def __init__(self, spec: FeatureSpec | None = None) -> None:
        self.spec = spec or FeatureSpec(words=self.words)
        if self.spec.words != self.words:
            raise ValueError(f"{type(self).__name__} makes {self.words} word features, the "
                             f"spec asks for {self.spec.words}: use features.featurizer_for")
        # A subclass with its own word block needs the token count only, not the hashes.
        self._hashed = type(self)._words is Featurizer._words

    def transform(self, prompt: str, extra: Mapping[str, float] | None = None) -> np.ndarray:
        spec = self.spec
        x = np.zeros(spec.dim, dtype=np.float64)
        data = prompt.encode("utf-8", errors="replace")
        n_bytes = len(data)
        lowered = data[: spec.max_bytes].lower()  # ASCII-only lower-casing, what the hash needs
        counts = scan(lowered, spec.n_buckets, spec.max_ngram, self._hashed)
        x[0] = 1.0
        x[1 : 1 + N_DENSE] = self._dense(counts, n_bytes, len(lowered))
        if counts.tokens:
            self._words(prompt, counts, x[spec.bucket_slice])
        if extra and spec.n_caller:
            self._caller(extra, x)
        return x

    def _caller(self, extra: Mapping[str, float], x: np.ndarray) -> None:
        """Add the caller's numeric features to ``x``'s caller block, hashed by name."""
        spec = self.spec
        base = spec.caller_slice.start
        for name, value in extra.items():
            h = stable_hash(name)
            slot = base + h % spec.n_caller
            sign = 1.0 if (h >> 63) & 1 == 0 else -1.0
            v = float(value)
            x[slot] += sign * math.copysign(math.log1p(abs(v)), v)

    def _words(self, prompt: str, counts: Counts, out: np.ndarray) -> None:
        """Fill the word block ``out`` (L2-normalised): signed hashed n-gram counts here;
        ``features.semantic`` puts a word-embedding average there instead."""
        block = counts.block
        norm = float(np.sqrt(block @ block))
        if norm > 0.0:
            out[:] = block / norm

    def transform_many(self, prompts: list[str]) -> np.ndarray:
        """Stack ``transform`` over prompts (no caller features), shape (n, dim)."""
        out = np.empty((len(prompts), self.spec.dim), dtype=np.float64)
        for i, p in enumerate(prompts):
            out[i] = self.transform(p)
        return out

    @staticmethod
    def _dense(c: Counts, n_bytes: int, n: int) -> list[float]:
        """The structure signals from the scan's counts; ``n`` bytes were scanned."""
        if not n:
            return [0.0] * N_DENSE
        return [
            math.log1p(n_bytes) / 10.0,
            math.log1p(c.tokens) / 8.0,
            math.log1p(c.newlines) / 5.0,
            c.digits / n,
            min(c.code, 10) / 10.0,
            min(c.math + c.math_symbols // 2, 10) / 10.0,
            1.0 if c.questions else 0.0,
            c.non_ascii / n,
        ]


def estimate_tokens(text: str) -> int:
    """Conservative token count of ``text`` without a tokenizer.

    English BPE vocabularies average about four bytes per token; dividing by 3.5 errs on
    the side of more tokens so that a context window is not overrun.
    """
    # An ASCII str is its own UTF-8 (isascii() reads a flag): no 2 KB copy to count bytes.
    n = len(text) if text.isascii() else len(text.encode("utf-8", errors="replace"))
    return math.ceil(n / 3.5)
