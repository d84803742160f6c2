"""The featuriser's C scan and its numpy path give identical counts and identical vectors, and
the vectors are the ones the service has always logged (posteriors stored before stay valid)."""

import hashlib
import shutil
import sysconfig

import numpy as np
import pytest

from bandit_router.features import FeatureSpec, Featurizer, scan as scan_mod

_WORDS = ("the of and to in is for that with as on be by this are from or it an at which model "
          "answer question code python function return value error explain why how compute "
          "integral probability theorem prove data table select join index query def class "
          "import #include => }; </ ``` $ \\frac \\sum \\int \\sqrt solve equation derivative "
          "Déjà vu 東京 Ünïcödé 1234 3.14 x^2 a+b=c <div> ?").split()


def _prompts(n: int, seed: int) -> list[str]:
    """Prompts of every shape: words and markers glued or spaced, empty, huge, random bytes."""
    rng = np.random.default_rng(seed)
    seps = (" ", "", "\n", "  ", ", ", "\t", "?")
    out = ["", " ", "?", "\n\n", "``````", "````", "$$$$", "=>=>=", "};};", "A" * 70_000,
           "select select  select", "SELECT * FROM t WHERE x <> 3; IMPORT os"]
    for _ in range(n):
        k = int(rng.integers(1, 600))
        words = rng.choice(_WORDS, size=k)
        glue = rng.choice(seps, size=k)
        text = "".join(w + g for w, g in zip(words, glue))
        if rng.random() < 0.3:
            text = text.upper() if rng.random() < 0.5 else text.title()
        out.append(text)
    for _ in range(n // 10):
        raw = rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes()
        out.append(raw.decode("utf-8", errors="replace"))
    return out


SPECS = [FeatureSpec(), FeatureSpec(n_buckets=100, max_ngram=3), FeatureSpec(n_buckets=1,
         max_ngram=1), FeatureSpec(n_buckets=512, max_ngram=4, max_bytes=300),
         FeatureSpec(n_buckets=64, max_ngram=20)]  # past the C scan's 16 n-gram slots

def _compiler() -> str | None:
    return shutil.which((sysconfig.get_config_var("CC") or "cc").split()[0])


def require_built(built: bool, source: str) -> None:
    """Skip where no compiler could have built ``source`` (a C helper's path under
    src/bandit_router/), fail where one could and it was not."""
    if not built:
        if _compiler() is None:
            pytest.skip(f"no C compiler here, so {source} was not built")
        pytest.fail(f"a C compiler is here but {source} was not built: reinstall "
                    "(pip install -e .) and read hatch_build.py's message")


# Where a compiler exists the C scan must have been built (first test); where none does, the
# comparison cannot run, and the numpy path is the only one.
needs_native = pytest.mark.skipif(not scan_mod.NATIVE and _compiler() is None,
                                  reason="no C compiler here, so the C scan was not built")


def test_the_c_scan_is_built_wherever_a_compiler_is():
    """``pip install`` on a machine with a compiler must not silently fall back to numpy."""
    if _compiler() is None:
        pytest.skip("no C compiler on this machine")
    assert scan_mod.NATIVE, "the C scan was not built: reinstall (pip install -e .) and read " \
                            "the build's warning"


@needs_native
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.n_buckets}x{s.max_ngram}")
def test_c_and_numpy_scans_count_the_same(spec):
    for text in _prompts(400, seed=spec.n_buckets):
        low = text.encode("utf-8", errors="replace")[: spec.max_bytes].lower()
        for words in (True, False):
            a = scan_mod.scan_native(low, spec.n_buckets, spec.max_ngram, words)
            b = scan_mod.scan_numpy(low, spec.n_buckets, spec.max_ngram, words)
            assert a[:-1] == b[:-1], text[:80]
            if words:
                assert np.array_equal(a.block, b.block), text[:80]
            else:
                assert a.block is None and b.block is None


@needs_native
def test_c_and_numpy_featurisers_give_identical_vectors(monkeypatch):
    import bandit_router.features.featurizer as featurizer

    texts = _prompts(300, seed=7)
    for spec in SPECS:
        fz = Featurizer(spec)
        native = np.stack([fz.transform(t, {"len": len(t)} if i % 5 == 0 else None)
                           for i, t in enumerate(texts)])
        monkeypatch.setattr(featurizer, "scan", scan_mod.scan_numpy)
        slow = np.stack([fz.transform(t, {"len": len(t)} if i % 5 == 0 else None)
                         for i, t in enumerate(texts)])
        monkeypatch.undo()
        assert native.tobytes() == slow.tobytes()


def test_vectors_are_bit_for_bit_those_of_the_original_featuriser():
    """Digest of 232 vectors computed by the pure-numpy featuriser before the C scan existed:
    stored posteriors were fitted on them, so not one bit may move."""
    vectors = np.stack([Featurizer().transform(t) for t in _prompts(200, seed=11)])
    assert hashlib.sha256(vectors.tobytes()).hexdigest() == GOLDEN


GOLDEN = "e7a99ddce75d432daefe2204e1efa9de4974595e07818663278b4af035e6ab05"


def test_the_image_sources_build_a_pure_wheel_on_a_machine_without_a_compiler(tmp_path):
    """What the Dockerfile copies is enough for ``pip install .``, and a missing compiler only
    means the numpy path (python:3.11-slim has none)."""
    import os
    import re
    import subprocess
    import sys

    from tests.conftest import ROOT

    dockerfile = (ROOT / "Dockerfile").read_text()
    src = tmp_path / "context"
    src.mkdir()
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.M):
        *paths, dest = line.split()
        for p in paths:
            target = src / (p if dest in ("./", ".") else dest)
            target.parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / p).is_dir():
                shutil.copytree(ROOT / p, target, ignore=shutil.ignore_patterns("*.so",
                                                                               "__pycache__"))
            else:
                shutil.copy(ROOT / p, target)
    env = dict(os.environ, CC=str(tmp_path / "no-such-compiler"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                           str(tmp_path / "dist"), str(src)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheels = [p.name for p in (tmp_path / "dist").iterdir()]
    assert len(wheels) == 1 and wheels[0].endswith("-py3-none-any.whl"), wheels
