"""The WordLlama word block: the real library's embeddings, in the service's layout."""

from __future__ import annotations

import hashlib
import io
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from bandit_router.features import FeatureSpec, Featurizer, featurizer_for
from bandit_router.features import semantic
from bandit_router.features.semantic import SemanticFeaturesUnavailable, WordLlamaFeaturizer

PROMPT = "Write a Python function that merges two sorted lists.\n```python\ndef f(x): pass\n```"


def test_word_block_is_wordllamas_own_normalised_embedding_in_the_hashed_layout():
    import wordllama
    from wordllama import WordLlama

    f = WordLlamaFeaturizer(FeatureSpec(words="wordllama", n_buckets=256))
    x = f.transform(PROMPT)
    hashed = Featurizer(FeatureSpec(words="hashed", n_buckets=256)).transform(PROMPT)
    assert x.shape == hashed.shape == (f.spec.dim,)
    outside = np.ones(len(x), bool)
    outside[f.spec.bucket_slice] = False
    np.testing.assert_array_equal(x[outside], hashed[outside])  # bias, structure, caller
    wl = WordLlama.load(cache_dir=os.path.dirname(wordllama.__file__), disable_download=True)
    # Words are tokenized one by one, as the library tokenizes them after a space; a word
    # after a line break (which the library tokenizes without its "▁") is read the same.
    words = " ".join(PROMPT.split())
    np.testing.assert_allclose(x[f.spec.bucket_slice], wl.embed([words], norm=True)[0],
                               atol=1e-5)
    assert x[f.spec.bucket_slice] @ wl.embed([PROMPT], norm=True)[0] > 0.85


def test_the_word_cache_never_changes_a_vector():
    texts = [PROMPT, "the same words again: merges two sorted lists", "ünïcode wörds ok",
             " ".join(f"w{i}" for i in range(50)), PROMPT.upper(), ""]
    fresh = [WordLlamaFeaturizer(FeatureSpec(words="wordllama", n_buckets=64)).transform(t)
             for t in texts]
    tiny = WordLlamaFeaturizer(FeatureSpec(words="wordllama", n_buckets=64), cache_words=7)
    for _ in range(2):  # overflowing prompts, restarts of the cache, hits and misses
        for t, want in zip(texts, fresh):
            np.testing.assert_array_equal(tiny.transform(t), want)


def test_featurisers_are_chosen_by_the_spec():
    spec = FeatureSpec(words="wordllama", n_buckets=32)
    assert isinstance(featurizer_for(spec), WordLlamaFeaturizer)
    assert type(featurizer_for(FeatureSpec(words="hashed"))) is Featurizer
    assert spec.name == "wordllama-32+16" and spec.dim == 1 + 8 + 32 + 16
    with pytest.raises(ValueError, match="featurizer_for"):
        Featurizer(spec)
    with pytest.raises(ValueError, match="words must be one of"):
        FeatureSpec(words="minilm")


def test_similar_requests_are_closer_than_unrelated_ones():
    f = WordLlamaFeaturizer()
    b = f.spec.bucket_slice
    code = f.transform("implement quicksort in java and explain its complexity")[b]
    code2 = f.transform("write a python function to sort a list of numbers")[b]
    poem = f.transform("a short poem about the rain falling on a quiet village")[b]
    assert code @ code2 > code @ poem + 0.1


def test_same_text_gives_the_same_vector_in_another_process():
    here = WordLlamaFeaturizer().transform(PROMPT)
    code = ("import sys, numpy as np; from bandit_router.features.semantic import "
            f"WordLlamaFeaturizer; np.save(sys.stdout.buffer, WordLlamaFeaturizer().transform("
            f"{PROMPT!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    np.testing.assert_array_equal(here, np.load(io.BytesIO(out.stdout)))


def test_text_the_tokenizer_cannot_take_is_featurised_as_its_utf8_replacement():
    # JSON can carry a lone surrogate; the tokenizer refuses it (a 500 on /v1/route before).
    f = WordLlamaFeaturizer(FeatureSpec(words="wordllama", n_buckets=64), cache_words=8)
    for text in ("\ud800 lone surrogate", "x\u0000y", "emoji 🚀 and 日本語 \udfff"):
        x = f.transform(text)
        assert np.isfinite(x).all() and np.linalg.norm(x[f.spec.bucket_slice]) > 0
    assert np.array_equal(f.transform("\ud800 lone"), f.transform("? lone"))


def test_empty_prompt_and_truncated_dimensions():
    f = WordLlamaFeaturizer(FeatureSpec(words="wordllama", n_buckets=64))
    assert f.transform("").shape == (1 + 8 + 64 + 16,)
    assert not f.transform("")[f.spec.bucket_slice].any()
    assert np.linalg.norm(f.transform(PROMPT)[f.spec.bucket_slice]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n_buckets=100"):
        WordLlamaFeaturizer(FeatureSpec(words="wordllama", n_buckets=100))


def test_without_wordllama_installed_the_error_says_what_to_install(monkeypatch):
    semantic._model.cache_clear()
    monkeypatch.setitem(sys.modules, "wordllama", None)  # import now fails
    try:
        with pytest.raises(SemanticFeaturesUnavailable, match="pip install wordllama"):
            WordLlamaFeaturizer()
    finally:
        semantic._model.cache_clear()


def test_the_service_default_is_wordllama_and_a_bad_size_is_refused_with_what_to_choose():
    from pydantic import ValidationError

    from bandit_router.config import Settings
    from bandit_router.features import DEFAULT_SPEC

    assert Settings().feature_spec() == DEFAULT_SPEC
    assert DEFAULT_SPEC.name == "wordllama-128+16" and DEFAULT_SPEC.dim == 153
    assert isinstance(featurizer_for(DEFAULT_SPEC), WordLlamaFeaturizer)
    with pytest.raises(ValidationError, match="choose one of them"):
        Settings(feature_words="wordllama", feature_buckets=100)
    assert Settings(feature_words="hashed", feature_buckets=100).feature_spec().dim == 125


# Whitespace that str.split splits on beyond ASCII's, and text around it.
_SPACES = (" ", "\n", "\t", "\u00a0", "\u2003", "\u3000", "\x1c", "\x85", "\u2028", "  ", "")
_PIECES = ("merge", "sorted", "lists", "Déjà", "東京", "x^2", "def", "f(x):", "\ud800", "😀",
           "the", "THE", "a" * 40, "1234", "naïve", "?")


def _mixed_prompts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = ["", " ", "\u00a0\u2003", PROMPT, "word", " word ", "w" * 5000]
    for _ in range(n):
        k = int(rng.integers(1, 400))
        out.append("".join(str(rng.choice(_PIECES)) + str(rng.choice(_SPACES))
                           for _ in range(k)))
    return out


@pytest.mark.parametrize("cache_words", [100_000, 40])
def test_the_c_word_lookup_gives_the_python_paths_vectors(monkeypatch, cache_words):
    """The C look-up (features/_scan.c's WordIndex) splits where str.split splits and reads
    the same rows: identical vectors, on prompts with Unicode spaces, lone surrogates and a
    length limit that cuts words, cached or not, and with a cache so small that it starts
    afresh again and again (40 words)."""
    if semantic.WordIndex is None:  # test_scan.py fails where a compiler should have built it
        pytest.skip("the C scan was not built (features/_scan.c): nothing to compare")
    texts = _mixed_prompts(300, seed=3)
    for spec in (FeatureSpec(words="wordllama", n_buckets=64),
                 FeatureSpec(words="wordllama", n_buckets=32, max_bytes=300)):
        f = WordLlamaFeaturizer(spec, cache_words=cache_words)
        first = np.stack([f.transform(t) for t in texts])  # misses: the Python path adds
        native = np.stack([f.transform(t) for t in texts])  # every word cached: C
        monkeypatch.setattr(semantic, "featurise", None)  # the look-up alone in C
        lookup = np.stack([f.transform(t) for t in texts])
        monkeypatch.setattr(semantic, "WordIndex", None)
        slow = np.stack([f.transform(t) for t in texts])
        monkeypatch.undo()
        assert native.tobytes() == lookup.tobytes() == slow.tobytes() == first.tobytes()


def test_the_one_call_featuriser_gives_the_step_by_step_vectors(monkeypatch):
    """``_scan.c``'s ``featurise`` (bias, structure signals and word block in one call)
    against ``Featurizer.transform``'s steps (scan, the signals in Python, the word look-up):
    the same bits on prompts with code and maths markers, digits, capitals, Unicode spaces,
    lone surrogates and a byte limit that cuts them, with and without caller features, words
    cached or not."""
    if semantic.featurise is None:
        pytest.skip("the C scan was not built (features/_scan.c): nothing to compare")
    texts = _mixed_prompts(300, seed=8) + [
        "```python\ndef f(x):\n    return x**2 + 3\n```\nWhy? Solve the EQUATION $x^2=4$.",
        "SELECT * FROM t; </div> => {}; #include <stdio.h>", r"\frac{1}{2} \sum \int 7*8/9",
        "a b " * 3000, "Word " * 5000 + "end"]  # more words and bytes than its stack buffers
    extras = [None, {"tier": 2.0, "len": -3.5}]
    for spec in (FeatureSpec(words="wordllama", n_buckets=128),
                 FeatureSpec(words="wordllama", n_buckets=64, max_bytes=300)):
        f = WordLlamaFeaturizer(spec)
        calls = []
        real = semantic.featurise
        monkeypatch.setattr(semantic, "featurise", lambda *a: calls.append(1) or real(*a))
        fused = [np.stack([f.transform(t, e) for t in texts]) for e in extras for _ in (0, 1)]
        assert len(calls) == 4 * len(texts)  # the one call ran on every prompt
        monkeypatch.setattr(semantic, "featurise", None)
        steps = [np.stack([f.transform(t, e) for t in texts]) for e in extras]
        monkeypatch.undo()
        for i, e in enumerate(extras):
            assert fused[2 * i].tobytes() == fused[2 * i + 1].tobytes() == steps[i].tobytes()


def test_the_c_word_index_answers_as_the_dict_does():
    """WordIndex against the dict it mirrors: every word of a prompt found at its row, a
    word it does not hold (or a prefix, or the word with a space in it) makes the look-up
    answer None, and re-adding a word points it at its new row."""
    if semantic.WordIndex is None:
        pytest.skip("the C scan was not built (features/_scan.c): nothing to compare")
    words = list(dict.fromkeys(" ".join(_mixed_prompts(50, seed=5)).split()))
    index = semantic.WordIndex()
    index.add(words, 7)
    assert len(index) == len(words)
    text = " \u3000".join(reversed(words))
    ids = np.empty(len(words) + 1, dtype=np.intp)
    assert index.lookup(text, -1, ids) == len(words)
    assert ids[: len(words)].tolist() == [7 + words.index(w) for w in text.split()]
    copy = index.copy()
    for missing in ("never-seen", words[0][:-1] or "x", "東京x", words[0] + "\x00"):
        if missing not in words:
            assert index.lookup(f"{words[1]} {missing}", -1, ids) is None
    copy.add([words[0]], 1_000)
    assert copy.lookup(words[0], -1, ids) == 1 and ids[0] == 1_000
    assert index.lookup(words[0], -1, ids) == 1 and ids[0] == 7  # the copy is independent


def test_wordllama_vectors_are_bit_for_bit_those_pinned():
    """Digest of the default features (WordLlama-128) of 300 mixed prompts: not one bit may
    move unnoticed (posteriors are fitted on these vectors). Pinned at c08f5d2; changed once,
    in issue 19's sixth session, when the word rows' sum and the norm's sum of squares became
    sums taken one term after another instead of BLAS products (whose order, and so last bits,
    depends on the CPU's kernel): every vector moved by at most 2.7e-7, 264 of the 300 in some
    bit."""
    f = featurizer_for(FeatureSpec(words="wordllama", n_buckets=128))
    texts = _mixed_prompts(300, seed=4)
    for _ in range(2):  # the first pass fills the cache, the second reads it
        vectors = np.stack([f.transform(t) for t in texts])
        assert hashlib.sha256(vectors.tobytes()).hexdigest() == WORDLLAMA_GOLDEN


WORDLLAMA_GOLDEN = "aa9f9d5522f2e56ae94a538fcbd7b583d0573206ac3ceda88799d89e0cd9ebf8"


def test_the_word_rows_are_summed_in_order_whatever_the_blas():
    """The word block is the rows' sum taken one row after another, over the norm whose squares
    are added one after another, in C (``normalised_sum``) and in numpy alike: equal to the
    plain loops, so no BLAS kernel decides its last bits; and the C sum refuses
    what they cannot read instead of reading past a buffer."""
    rng = np.random.default_rng(7)
    rows = rng.standard_normal((500, 128)).astype(np.float32)
    for n in (1, 2, 9, 351, 2000):
        ids = rng.integers(0, len(rows), n).astype(np.intp)
        loop = rows[ids[0]].copy()
        for i in ids[1:]:
            loop += rows[i]
        assert semantic._sum(rows.take(ids, axis=0)).tobytes() == loop.tobytes()
        v, square = loop.astype(np.float64), 0.0
        for a in v:
            square += a * a
        unit = v / math.sqrt(square)
        want = np.empty(128)
        semantic.WordLlamaFeaturizer._normalise(semantic._sum(rows.take(ids, axis=0)), want)
        assert want.tobytes() == unit.tobytes()
        if semantic.normalised_sum is not None:
            out = np.zeros(128)
            semantic.normalised_sum(rows, ids, n, out)
            assert out.tobytes() == unit.tobytes()
    if semantic.normalised_sum is None:
        return
    out = np.empty(128)
    with pytest.raises(IndexError):
        semantic.normalised_sum(rows, np.array([0, 500], dtype=np.intp), 2, out)
    with pytest.raises(ValueError):
        semantic.normalised_sum(rows, np.array([0], dtype=np.intp), 2, out)
    with pytest.raises(TypeError):
        semantic.normalised_sum(rows.astype(np.float64), np.array([0], dtype=np.intp), 1, out)
    with pytest.raises(TypeError):
        semantic.normalised_sum(rows, np.array([0], dtype=np.intp), 1, np.empty(64))
    with pytest.raises(TypeError):  # out is float64
        semantic.normalised_sum(rows, np.array([0], dtype=np.intp), 1, np.empty(128, np.float32))
    with pytest.raises(IndexError):
        semantic.normalised_sum(rows, np.array([-1], dtype=np.intp), 1, np.empty(128))
