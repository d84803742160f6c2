"""Semantic word block: WordLlama's static token embeddings instead of hashed n-grams.

``WordLlamaFeaturizer`` keeps the hashed featuriser's layout (bias, structure signals, word
block, caller features); only the word block changes, to the sum of the prompt's WordLlama
token embeddings (``l2_supercat``, 256 dimensions, truncated to ``n_buckets`` ∈ DIMS as its
Matryoshka training allows: it was trained at 64, 128 and 256; 32 is a plain truncation),
L2-normalised — the same direction as WordLlama's own mean-pooled embedding.

Tokenizing a 2 KB prompt with the library's tokenizer costs ~0.8 ms, five times the rest of a
decision. Its tokenizer (Llama-2's) never merges across a space, so a prompt's tokens are the
tokens of its whitespace-separated words, tokenized one by one. Each distinct word's summed
embedding is therefore computed once per process and kept in a bounded cache (``cache_words``
entries; when full it starts afresh); a prompt is then a ``str.split``, dictionary look-ups
and one row sum (the split and the look-ups in one C pass over the prompt, ``_scan.c``'s
``WordIndex``, when it was built; the Python path gives the same rows). The cache only
memoises a pure function of the word: the same text gives the same vector in every process,
whatever each process has seen before.

It is the one module of ``features/`` that needs more than numpy: ``wordllama`` (a core
dependency; imported lazily, when a featuriser is built, so that ``import
bandit_router.features`` stays numpy-only). The weights ship inside its wheel; nothing is
downloaded at run time (``disable_download=True``). Measured cost and routing quality:
simulations/README.md ("Semantic features").
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from operator import itemgetter

import numpy as np

from bandit_router.features import scan
from bandit_router.features.featurizer import DEFAULT_SPEC, FeatureSpec, Featurizer

try:  # built by pip with the scan (hatch_build.py); the Python path below gives the same rows
    from bandit_router.features._scan import WordIndex, featurise, normalised_sum
except ImportError:
    WordIndex = featurise = normalised_sum = None

DIMS = (32, 64, 128, 256)
# MMLU's 14,042 prompts have 73,479 distinct words; 100,000 rows of 128 float32 are 51 MB.
CACHE_WORDS = 100_000


def _sum(picked: np.ndarray) -> np.ndarray:
    """The word rows' sum, float32, one row added after another (numpy's add.reduce over the
    first axis; ``_scan.c``'s ``normalised_sum`` adds in the same order, so both give the same bits).
    Not a product with a vector of ones, as before the sixth session of issue 19: a BLAS
    product sums in its CPU kernel's order, so the same text could give another vector's last
    bits on another machine."""
    return np.add.reduce(picked, axis=0)


def _native():
    """An empty C word index, or None where ``_scan.c`` was not built."""
    return WordIndex() if WordIndex is not None else None


class SemanticFeaturesUnavailable(RuntimeError):
    """wordllama is not installed (or its bundled weights are missing)."""


@lru_cache(maxsize=1)
def _model():
    """WordLlama's tokenizer (without padding) and embedding table, loaded once per process."""
    try:
        import wordllama
        from tokenizers import Tokenizer
        from wordllama import WordLlama
    except ImportError:
        raise SemanticFeaturesUnavailable(
            "semantic features need the wordllama package: pip install wordllama "
            "(a dependency of bandit-router; or set BANDIT_ROUTER_FEATURE_WORDS=hashed)"
        ) from None
    from pathlib import Path

    try:
        wl = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    except Exception as exc:  # the library raises several types for a missing file
        raise SemanticFeaturesUnavailable(
            f"wordllama is installed but its bundled weights could not be loaded ({exc}); "
            "reinstall it with pip install --force-reinstall wordllama") from None
    # The library's instance pads batches; a private copy without padding encodes words.
    tokenizer = Tokenizer.from_str(wl.tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer, np.asarray(wl.embedding, dtype=np.float32)


class _WordCache:
    """word → summed token embedding, bounded. Readers never lock: a state (index, rows,
    native) is only ever extended with rows written before their key is published, and
    growing or starting afresh publishes a new triple, so a reader holding the old one stays
    consistent. ``native`` is the C twin of ``index`` (``_scan.c``'s ``WordIndex``: the same
    keys and rows), None where it was not built; its ``add`` and ``lookup`` each run whole
    under the GIL."""

    def __init__(self, tokenizer, table: np.ndarray, capacity: int) -> None:
        self._tokenizer = tokenizer
        self._table = table
        self._capacity = capacity
        self._lock = threading.Lock()
        self._n = 0
        self.state: tuple[dict[str, int], np.ndarray, object] = (
            {}, np.empty((min(4096, capacity), table.shape[1]), dtype=np.float32), _native())

    def vectors(self, words: list[str]) -> np.ndarray:
        """Embedding of each distinct word of ``words``, shape (len(words), dim), float32."""
        # The tokenizer takes valid Unicode only: a lone surrogate (which JSON can carry) is
        # replaced as the hashed path's UTF-8 encoding replaces it.
        text = [w if w.isascii() else w.encode("utf-8", "replace").decode("utf-8")
                for w in words]
        enc = self._tokenizer.encode_batch(text, add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in enc), dtype=np.intp, count=len(enc))
        flat = np.fromiter((i for e in enc for i in e.ids), dtype=np.intp,
                           count=int(lengths.sum()))
        starts = np.zeros(len(words), dtype=np.intp)
        np.cumsum(lengths[:-1], out=starts[1:])
        # Every word has ≥ 1 token (the tokenizer prepends "▁"), so no segment is empty.
        rows = np.add.reduceat(self._table[np.minimum(flat, len(self._table) - 1)], starts,
                               axis=0, dtype=np.float64)
        return rows.astype(np.float32)

    def add(self, words: list[str]) -> None:
        """Compute and publish the rows of ``words`` (distinct, not yet cached)."""
        with self._lock:
            index, rows, native = self.state
            words = [w for w in words if w not in index]  # another thread may have added them
            if not words:
                return
            if len(words) > self._capacity:
                return  # more distinct words than the whole cache: the caller computes them
            if self._n + len(words) > self._capacity:  # full: start afresh
                index, rows, self._n = {}, np.empty_like(rows[: min(4096, self._capacity)]), 0
                native = _native()
            if self._n + len(words) > len(rows):
                grown = np.empty((min(self._capacity, max(2 * len(rows), self._n + len(words))),
                                  rows.shape[1]), dtype=np.float32)
                grown[: self._n] = rows[: self._n]
                index, rows = dict(index), grown
                native = native.copy() if native is not None else None
            rows[self._n : self._n + len(words)] = self.vectors(words)
            if index is not self.state[0]:
                # a new triple; readers of the old one are unaffected
                self.state = (index, rows, native)
            for i, w in enumerate(words, self._n):
                index[w] = i
            if native is not None:
                native.add(words, self._n)
            self._n += len(words)


class WordLlamaFeaturizer(Featurizer):
    """The service's feature layout with a WordLlama embedding as the word block."""

    words = "wordllama"

    def __init__(self, spec: FeatureSpec | None = None, cache_words: int = CACHE_WORDS) -> None:
        spec = spec or DEFAULT_SPEC
        if spec.n_buckets not in DIMS:
            raise ValueError(f"WordLlama embeddings have {DIMS} dimensions; got n_buckets="
                             f"{spec.n_buckets}")
        super().__init__(spec)
        tokenizer, table = _model()
        self._cache = _WordCache(tokenizer, np.ascontiguousarray(table[:, : spec.n_buckets]),
                                 max(1, cache_words))

    def transform(self, prompt: str, extra=None) -> np.ndarray:
        """As :meth:`Featurizer.transform`; where ``_scan.c`` was built, the bias, the
        structure signals and the word block in one C call (``featurise``: the same steps and
        arithmetic, the same bits; tests/features/test_semantic.py), which saves the dozen
        Python and numpy calls between them that a decision after a pause pays for again
        (issue 19, benchmarks/README.md)."""
        _, rows, native = self._cache.state  # one state: rows holds every row native names
        if native is None or featurise is None:  # featurise: built with scan's C
            return super().transform(prompt, extra)
        spec = self.spec
        x = np.zeros(spec.dim)
        done = featurise(prompt, spec.max_bytes, scan.CLASSES, scan.CODE_MARKERS,
                         scan.MATH_MARKERS, native, rows, x)
        if done is None:  # not UTF-8 as it stands (a lone surrogate): the Python path
            return super().transform(prompt, extra)
        if not done:  # a word not cached yet: the Python path adds it
            self._words_python(prompt, x[spec.bucket_slice])
        if extra and spec.n_caller:
            self._caller(extra, x)
        return x

    def _words(self, prompt: str, tokens: np.ndarray, out: np.ndarray) -> None:
        index, rows, native = self._cache.state
        if native is not None and WordIndex is not None:
            # The C look-up (_scan.c's WordIndex) of the same words, when every word is
            # cached: on a 2 KB prompt (351 words) it replaces str.split, itemgetter and
            # fromiter (31 µs together, measured below) by one pass that makes no str per
            # word (issue 19, benchmarks/README.md); a word not cached yet takes the Python
            # path, which adds it.
            ids = np.empty(min(len(prompt), self.spec.max_bytes) // 2 + 1, dtype=np.intp)
            n = native.lookup(prompt, self.spec.max_bytes, ids)
            if n is not None:
                if n:
                    # the rows summed where they are and normalised, in one call (before:
                    # take(), a product, astype, a dot and a divide, numpy calls of ~60-90 µs
                    # each in a cold decision); _normalise(_sum(rows.take(ids)), out) bit for bit
                    normalised_sum(rows, ids, n, out)
                return
        self._words_python(prompt, out)

    def _words_python(self, prompt: str, out: np.ndarray) -> None:
        words = prompt[: self.spec.max_bytes].split()
        if not words:
            return
        # Measured on a 2 KB prompt (351 words): str.split 16 µs, itemgetter 6 µs, fromiter
        # 9 µs, take 3 µs, the sum as a vector product 2 µs (np.sum over axis 0: 11 µs).
        get = itemgetter(*words) if len(words) > 1 else (lambda d: (d[words[0]],))
        index, rows, _ = self._cache.state
        try:
            ids = get(index)
        except KeyError:
            missing = list(dict.fromkeys(w for w in words if w not in index))
            self._cache.add(missing)
            index, rows, _ = self._cache.state
            try:
                ids = get(index)
            except KeyError:
                # The prompt alone has more distinct words than the cache holds, or adding
                # them filled the cache, which started afresh without the prompt's other
                # words: the rows of whatever is not in the new index, computed here.
                rest = [w for w in dict.fromkeys(words) if w not in index]
                known = dict(zip(rest, self._cache.vectors(rest)))
                picked = np.stack([rows[index[w]] if w in index else known[w] for w in words])
                self._normalise(_sum(picked), out)
                return
        picked = rows.take(np.fromiter(ids, dtype=np.intp, count=len(words)), axis=0)
        self._normalise(_sum(picked), out)

    @staticmethod
    def _normalise(v: np.ndarray, out: np.ndarray) -> None:
        v = v.astype(np.float64)
        # The squares added one after another (cumsum is sequential; a BLAS dot's order is its
        # CPU kernel's): _scan.c's normalised_sum does the same steps. IEEE square root.
        norm = math.sqrt(float(np.cumsum(v * v)[-1]))
        if norm > 0.0:
            np.divide(v, norm, out=out)
