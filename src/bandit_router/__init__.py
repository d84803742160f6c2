"""bandit-router: online LLM routing with contextual bandits."""

__version__ = "0.1.0"
