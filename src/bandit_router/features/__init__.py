"""Request featurisation: pure, deterministic across processes, numpy only (the WordLlama
word block imports its library lazily, when such a featuriser is built)."""

from bandit_router.features.featurizer import (
    DEFAULT_SPEC,
    DENSE_NAMES,
    WORD_BLOCKS,
    FeatureSpec,
    Featurizer,
    estimate_tokens,
)
from bandit_router.features.messages import prompt_from_messages


def featurizer_for(spec: FeatureSpec) -> Featurizer:
    """The featuriser of ``spec``: the one place that maps ``spec.words`` to a class."""
    if spec.words == "wordllama":
        from bandit_router.features.semantic import WordLlamaFeaturizer

        return WordLlamaFeaturizer(spec)
    return Featurizer(spec)


__all__ = ["DEFAULT_SPEC", "DENSE_NAMES", "WORD_BLOCKS", "FeatureSpec", "Featurizer", "estimate_tokens",
           "featurizer_for", "prompt_from_messages"]
