"""Benchmarks of bandit-router: ``python -m benchmarks [decision|http|refit|replicas|all]``.

Each prints percentiles, throughput and the machine, and writes ``benchmarks/results/*.json``.
See ``benchmarks/README.md`` for the measured numbers and what they mean.
"""
