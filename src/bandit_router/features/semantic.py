"""Optional semantic word block: WordLlama's static token embeddings instead of hashed n-grams.

``WordLlamaFeaturizer`` keeps the hashed featuriser's layout (bias, structure signals, word
block, caller features) and its dimension; only the word block changes, to the mean of the
prompt's WordLlama token embeddings (``l2_supercat``, 256 dimensions, truncated to
``n_buckets`` ∈ {64, 128, 256} as its Matryoshka training allows), L2-normalised. Same text,
same vector, in every process: the tokenizer and the embedding table are fixed files.

It is the one module of ``features/`` that needs more than numpy: ``wordllama`` (the
``semantic`` extra, ``pip install 'bandit-router[semantic]'``), imported lazily when a
featuriser is built, so importing ``bandit_router.features`` stays numpy-only. The weights
ship inside the wheel; nothing is downloaded at run time (``disable_download=True``).
Measured cost and routing quality: simulations/README.md ("Semantic features").
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from bandit_router.features.featurizer import FeatureSpec, Featurizer

DIMS = (64, 128, 256)


class SemanticFeaturesUnavailable(RuntimeError):
    """wordllama is not installed (or its bundled weights are missing)."""


@lru_cache(maxsize=1)
def _model():
    """WordLlama's tokenizer and embedding table, loaded once per process from the wheel."""
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError:
        raise SemanticFeaturesUnavailable(
            "semantic features need the wordllama package: pip install "
            "'bandit-router[semantic]' (or use the default hashed features)") from None
    from pathlib import Path

    try:
        wl = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    except Exception as exc:  # the library raises several types for a missing file
        raise SemanticFeaturesUnavailable(
            f"wordllama is installed but its bundled weights could not be loaded ({exc}); "
            "reinstall it with pip install --force-reinstall wordllama") from None
    table = np.ascontiguousarray(wl.embedding, dtype=np.float64)
    return wl.tokenizer, table


class WordLlamaFeaturizer(Featurizer):
    """The service's feature layout with a WordLlama embedding as the word block."""

    def __init__(self, spec: FeatureSpec | None = None) -> None:
        spec = spec or FeatureSpec()
        if spec.n_buckets not in DIMS:
            raise ValueError(f"WordLlama embeddings have {DIMS} dimensions; got n_buckets="
                             f"{spec.n_buckets}")
        super().__init__(spec)
        self._tokenizer, table = _model()
        self._table = np.ascontiguousarray(table[:, : spec.n_buckets])

    def _words(self, prompt: str, tokens: np.ndarray, out: np.ndarray) -> None:
        text = prompt[: self.spec.max_bytes]
        ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        if not ids:
            return
        v = self._table[np.minimum(ids, len(self._table) - 1)].mean(axis=0)
        norm = float(np.sqrt(v @ v))
        if norm > 0.0:
            out[:] = v / norm
