"""Request featurisation: pure, deterministic across processes, numpy only."""

from bandit_router.features.featurizer import (
    DENSE_NAMES,
    FeatureSpec,
    Featurizer,
    estimate_tokens,
)
from bandit_router.features.messages import prompt_from_messages

__all__ = ["DENSE_NAMES", "FeatureSpec", "Featurizer", "estimate_tokens", "prompt_from_messages"]
