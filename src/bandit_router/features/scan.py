"""One scan of a prompt's bytes: the counts that the featuriser turns into a vector.

Two implementations give identical counts (``tests/features/test_scan.py`` compares them on
thousands of prompts): ``_scan.c``, a small C extension that ``pip install`` builds when a C
compiler is there (``hatch_build.py``), and numpy, used when it is not.

Why the compiled one exists (issue 19; ``python -m benchmarks decision``, 2 KB prompts, on a
busy 2-core machine; benchmarks/README.md): the numpy path took 99 µs at the median (~60 µs of
it in 23 substring counts, the rest a dozen array passes that each allocate), 40 % of a
decision at K = 2; the C scan does the same in one pass over the bytes plus a marker pass that
one look-up per byte mostly rejects: 24.5 µs for the whole ``Featurizer.transform``. The numpy
path stays the definition that the C one must match, and what a machine without a compiler
runs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bandit_router.features.hashing import _WORD_BYTE, ngram_hashes, token_hashes

# Cheap structure signals: substring counts run in C, unlike regular expressions, which
# cost more than the whole hashing step on a 2 KB prompt.
CODE_MARKERS = (b"```", b"def ", b"class ", b"return", b"import ", b"#include", b"function",
                b"=>", b"};", b"select ", b"</")
MATH_MARKERS = (b"\\frac", b"\\sum", b"\\int", b"\\sqrt", b"$", b"solve", b"equation",
                b"integral", b"derivative", b"probability", b"theorem", b"prove")
DIGITS = b"0123456789"
MATH_SYMBOLS = b"=+*/^<>"
_NON_ASCII = bytes(range(128, 256))

# The byte classes the C scan counts, one bit each (see _scan.c).
CLASSES = np.zeros(256, dtype=np.uint8)
CLASSES[_WORD_BYTE] |= 1
CLASSES[list(DIGITS)] |= 2
CLASSES[list(MATH_SYMBOLS)] |= 4
CLASSES[ord("\n")] |= 8
CLASSES[ord("?")] |= 16
CLASSES[128:] |= 32
CLASSES = CLASSES.tobytes()


class Counts(NamedTuple):
    tokens: int  # word tokens
    digits: int
    math_symbols: int  # bytes among MATH_SYMBOLS
    newlines: int
    questions: int  # "?" bytes
    non_ascii: int
    code: int  # occurrences of CODE_MARKERS, each counted like bytes.count
    math: int  # occurrences of MATH_MARKERS
    block: np.ndarray | None  # signed hashed n-gram counts (n_buckets), when asked


def _count_bytes(data: bytes, chars: bytes) -> int:
    return len(data) - len(data.translate(None, chars))


def scan_numpy(lowered: bytes, n_buckets: int, max_ngram: int, words: bool = True) -> Counts:
    """The counts of lower-cased UTF-8 ``lowered``; ``block`` only when ``words``."""
    tokens = token_hashes(lowered)
    block = None
    if words:
        if len(tokens):
            h = ngram_hashes(tokens, max_ngram)
            idx = (h & np.uint64(n_buckets - 1) if n_buckets & (n_buckets - 1) == 0
                   else h % np.uint64(n_buckets))
            sign = 1.0 - 2.0 * ((h >> np.uint64(63)) & np.uint64(1)).astype(np.float64)
            block = np.bincount(idx.astype(np.intp), weights=sign, minlength=n_buckets)
        else:
            block = np.zeros(n_buckets)
    return Counts(
        tokens=len(tokens),
        digits=_count_bytes(lowered, DIGITS),
        math_symbols=_count_bytes(lowered, MATH_SYMBOLS),
        newlines=lowered.count(b"\n"),
        questions=lowered.count(b"?"),
        non_ascii=_count_bytes(lowered, _NON_ASCII),
        code=sum(lowered.count(m) for m in CODE_MARKERS),
        math=sum(lowered.count(m) for m in MATH_MARKERS),
        block=block,
    )


def scan_native(lowered: bytes, n_buckets: int, max_ngram: int, words: bool = True) -> Counts:
    """The same counts from the C extension (ImportError-free only where it was built)."""
    block = np.zeros(n_buckets) if words else None
    counts = _scan(lowered, CLASSES, CODE_MARKERS, MATH_MARKERS, block, max_ngram)
    return Counts(*counts, block)


try:
    from bandit_router.features._scan import scan as _scan
except ImportError:  # no compiler at install time: the numpy path, identical counts
    _scan = None

NATIVE = _scan is not None
scan = scan_native if NATIVE else scan_numpy
