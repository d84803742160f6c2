"""Features: fixed length, deterministic across processes, sensitive to what matters."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from bandit_router.features import FeatureSpec, Featurizer, estimate_tokens, prompt_from_messages

PROMPT = "Explain the proof of Fermat's little theorem, then write def f(x): return x**2"


def test_vector_has_the_declared_length_for_any_prompt():
    f = Featurizer(FeatureSpec(n_buckets=64, n_caller=4))
    for p in ("", "a", PROMPT, "日本語のテキスト" * 100, "x" * 200_000):
        v = f.transform(p)
        assert v.shape == (f.spec.dim,) == (1 + 8 + 64 + 4,)
        assert np.isfinite(v).all()


def test_same_text_gives_the_same_vector_in_another_process():
    here = Featurizer().transform(PROMPT, {"tier": 2.0})
    code = ("import sys, numpy as np; from bandit_router.features import Featurizer; "
            f"np.save(sys.stdout.buffer, Featurizer().transform({PROMPT!r}, {{'tier': 2.0}}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"})
    import io

    there = np.load(io.BytesIO(out.stdout))
    np.testing.assert_array_equal(here, there)


def test_different_prompts_differ_and_case_does_not_matter():
    f = Featurizer()
    assert not np.allclose(f.transform("sort a list in python"), f.transform("a poem about rain"))
    np.testing.assert_array_equal(f.transform("Hello World"), f.transform("hello world"))


def test_code_and_math_markers_are_signalled():
    f = Featurizer()
    names = ("code_markers", "math_markers")
    from bandit_router.features import DENSE_NAMES

    idx = [1 + DENSE_NAMES.index(n) for n in names]
    code = f.transform("```python\ndef f(x):\n    return x\n```")
    math = f.transform("Solve the equation 3x + 4 = 10 and prove the theorem")
    prose = f.transform("Tell me about your holiday")
    assert code[idx[0]] > prose[idx[0]]
    assert math[idx[1]] > prose[idx[1]]


def test_caller_features_change_the_vector_by_name():
    f = Featurizer()
    base = f.transform("hi")
    with_tier = f.transform("hi", {"user_tier": 3})
    assert not np.allclose(base, with_tier)
    np.testing.assert_array_equal(with_tier, f.transform("hi", {"user_tier": 3.0}))
    assert not np.allclose(with_tier, f.transform("hi", {"user_tier": -3}))


def test_messages_are_joined_with_roles():
    text = prompt_from_messages([{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": [{"type": "text", "text": "Hi"},
                                                              {"type": "image_url"}]}])
    assert text == "system: Be brief.\nuser: Hi"


def test_token_estimate_is_conservative_for_english():
    text = "The quick brown fox jumps over the lazy dog. " * 20
    assert estimate_tokens(text) >= len(text) / 4


@pytest.mark.parametrize("text", ["", "abc", "plain ASCII " * 50, "naïve café", "東京", "😀 x",
                                  "lone \ud800 surrogate"])
def test_token_estimate_counts_utf8_bytes_whatever_the_text(text):
    """The estimate is ⌈UTF-8 bytes / 3.5⌉, a lone surrogate counted as its replacement."""
    n = len(text.encode("utf-8", errors="replace"))
    assert estimate_tokens(text) == math.ceil(n / 3.5)
