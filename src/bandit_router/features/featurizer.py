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

from bandit_router.features.hashing import ngram_hashes, stable_hash, token_hashes

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

# Cheap structure signals: substring counts run in C, unlike regular expressions, which
# cost more than the whole hashing step on a 2 KB prompt.
_CODE_MARKERS = (b"```", b"def ", b"class ", b"return", b"import ", b"#include", b"function",
                 b"=>", b"};", b"select ", b"</")
_MATH_MARKERS = (b"\\frac", b"\\sum", b"\\int", b"\\sqrt", b"$", b"solve", b"equation",
                 b"integral", b"derivative", b"probability", b"theorem", b"prove")
_DIGITS = b"0123456789"
_MATH_SYMBOLS = b"=+*/^<>"


def _count_bytes(data: bytes, chars: bytes) -> int:
    return len(data) - len(data.translate(None, chars))


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
        self._mask = np.uint64(self.spec.n_buckets - 1)
        self._pow2 = self.spec.n_buckets & (self.spec.n_buckets - 1) == 0

    def transform(self, prompt: str, extra: Mapping[str, float] | None = None) -> np.ndarray:
        spec = self.spec
        x = np.zeros(spec.dim, dtype=np.float64)
        data = prompt.encode("utf-8", errors="replace")
        n_bytes = len(data)
        data = data[: spec.max_bytes]
        lowered = data.lower()  # ASCII-only lower-casing, which is what the hash needs

        tokens = token_hashes(lowered)
        x[0] = 1.0
        x[1 : 1 + N_DENSE] = self._dense(data, lowered, n_bytes, len(tokens))
        if len(tokens):
            self._words(prompt, tokens, x[spec.bucket_slice])
        if extra and spec.n_caller:
            base = spec.caller_slice.start
            for name, value in extra.items():
                h = stable_hash(name)
                slot = base + h % spec.n_caller
                sign = 1.0 if (h >> 63) & 1 == 0 else -1.0
                v = float(value)
                x[slot] += sign * math.copysign(math.log1p(abs(v)), v)
        return x

    def _words(self, prompt: str, tokens: np.ndarray, out: np.ndarray) -> None:
        """Fill the word block ``out`` (L2-normalised): signed hashed n-gram counts here;
        ``features.semantic`` puts a word-embedding average there instead."""
        h = ngram_hashes(tokens, self.spec.max_ngram)
        idx = (h & self._mask) if self._pow2 else (h % np.uint64(self.spec.n_buckets))
        sign = 1.0 - 2.0 * ((h >> np.uint64(63)) & np.uint64(1)).astype(np.float64)
        block = np.bincount(idx.astype(np.intp), weights=sign, minlength=self.spec.n_buckets)
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
    def _dense(data: bytes, lowered: bytes, n_bytes: int, n_words: int) -> list[float]:
        if not data:
            return [0.0] * N_DENSE
        n = len(data)
        digits = _count_bytes(data, _DIGITS)
        non_ascii = n - len(data.translate(None, bytes(range(128, 256))))
        code = sum(lowered.count(m) for m in _CODE_MARKERS)
        math_ = sum(lowered.count(m) for m in _MATH_MARKERS) + _count_bytes(data, _MATH_SYMBOLS) // 2
        return [
            math.log1p(n_bytes) / 10.0,
            math.log1p(n_words) / 8.0,
            math.log1p(data.count(b"\n")) / 5.0,
            digits / n,
            min(code, 10) / 10.0,
            min(math_, 10) / 10.0,
            1.0 if b"?" in data else 0.0,
            non_ascii / n,
        ]


def estimate_tokens(text: str) -> int:
    """Conservative token count of ``text`` without a tokenizer.

    English BPE vocabularies average about four bytes per token; dividing by 3.5 errs on
    the side of more tokens so that a context window is not overrun.
    """
    return math.ceil(len(text.encode("utf-8", errors="replace")) / 3.5)
