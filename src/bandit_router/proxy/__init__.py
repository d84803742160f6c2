"""OpenAI-compatible proxy mode: ``POST /v1/chat/completions`` decides with the policy,
forwards to the chosen model's upstream with fallbacks and circuit breakers, and records
what it measured. See ``docs/proxy.md``."""
