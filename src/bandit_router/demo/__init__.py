"""``bandit-router demo``: simulated models behind the real proxy, traffic with graded
feedback, and a report of how routing moved (see :mod:`bandit_router.demo.run`)."""

from bandit_router.demo.report import DemoResult
from bandit_router.demo.run import run_demo

__all__ = ["DemoResult", "run_demo"]
