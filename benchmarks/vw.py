"""Vowpal Wabbit's contextual bandit as the decision benchmark's reference (an optional extra:
``pip install 'bandit-router[bench]'``, i.e. ``vowpalwabbit``).

``--cb_explore_adf --squarecb -q sa``: one shared context (the prompt's words) and K action
lines, with the shared × action interactions so that the context changes each model's score,
as bandit-router's per-model linear model does (without ``-q`` the shared words add the same
to every action and cannot change a choice). That is the reference the decision benchmark
compares with; ``PAIRS`` adds ``--ngram s2``, the word pairs that bandit-router's features also
hash, and is printed beside it for context. One decision is what an application would do
with VW: the raw prompt → VW's text format → ``predict`` → sample an action from the PMF.
Trained first on 4,000 logged examples (random actions, random rewards) so that its weights
are not empty.
"""

from __future__ import annotations

import numpy as np

ARGS = "--cb_explore_adf --squarecb -q sa --quiet"
PAIRS = ARGS + " --ngram s2"


def available() -> str | None:
    """VW's version, or None when the extra is not installed."""
    try:
        import vowpalwabbit
    except ImportError:
        return None
    return getattr(vowpalwabbit, "__version__", "installed")


class VWDecider:
    def __init__(self, k: int, train: list[str], rng: np.random.Generator,
                 args: str = ARGS) -> None:
        import vowpalwabbit

        self.k = k
        self.rng = rng
        self.vw = vowpalwabbit.Workspace(args)
        self.actions = [f"|a model=model-{i:02d} price:{0.1 * (i + 1):.2f}" for i in range(k)]
        for i in range(4000):
            a = int(rng.integers(k))
            cost = float(rng.random())
            self.vw.learn(self._lines(train[i % len(train)], (a, cost, 1.0 / k)))

    def _lines(self, prompt: str, label: tuple[int, float, float] | None = None) -> list[str]:
        # VW's text format reserves "|" and ":"; everything else is split on whitespace by VW.
        lines = ["shared |s " + prompt.replace("|", " ").replace(":", " ")]
        for i, a in enumerate(self.actions):
            if label is not None and label[0] == i:
                a = f"0:{label[1]}:{label[2]} {a}"
            lines.append(a)
        return lines

    def decide(self, prompt: str) -> tuple[int, float]:
        """The chosen action and its probability."""
        pmf = self.vw.predict(self._lines(prompt))
        u = self.rng.random() * sum(pmf)
        acc = 0.0
        for i, p in enumerate(pmf):
            acc += p
            if u < acc:
                return i, p
        return len(pmf) - 1, pmf[-1]

    def close(self) -> None:
        self.vw.finish()
